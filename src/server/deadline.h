/*
 * deadline.h - deadlines for the parts of a request that a client sends:
 * its headers and its body.
 *
 * Why: libmicrohttpd's connection timeout is an idle timeout that every
 * received byte resets, so a client that sends one byte a second
 * ("slowloris") or never finishes its body keeps its connection for as
 * long as it trickles.  Here every connection gets a clock per phase; a
 * sweeper thread shuts down (shutdown(2), SHUT_RDWR) the socket of a
 * connection past its phase's deadline, and libmicrohttpd, seeing the end
 * of the stream, closes the connection itself.
 *
 * The phases, set by the HTTP layer (http.c):
 *   headers  from the connection's start: the first request's headers must
 *            be complete within header_s;
 *   body     from the headers' end (the access handler's first call): the
 *            body must be complete within body_s;
 *   handled  the body is in (or an answer is queued): no deadline, however
 *            long the handler runs or the answer takes to send;
 *   next     from a request's completion on a keep-alive connection: the
 *            next request's headers must be complete within next_s (the
 *            server passes its idle timeout, or header_s when longer: a
 *            connection silent that long is closed by the idle timeout in
 *            any case, so a keep-alive client that idles sees no change).
 * 0 seconds turns that deadline off.
 *
 * No fd-reuse race: a connection's record is removed (ak_dl_close, from
 * libmicrohttpd's MHD_CONNECTION_NOTIFY_CLOSED, which it calls before it
 * closes the socket) under the same mutex the sweeper holds while it
 * decides and calls shutdown(), so the sweeper never touches a closed
 * descriptor or one reused by another connection.
 */
#ifndef AKIDB_SERVER_DEADLINE_H
#define AKIDB_SERVER_DEADLINE_H

#include "server/internal.h"

typedef struct ak_deadlines ak_deadlines;
typedef struct ak_dl_conn ak_dl_conn;

/* Starts the sweeper; drops are counted in m (ak_metrics_deadline_drops).
 * *out is NULL (nothing started, every call below a no-op) when header_s
 * and body_s are both 0.  ENOMEM / EIO (thread creation) with a message. */
akidb_status ak_deadlines_start(double header_s, double body_s, double next_s, ak_metrics *m,
                                ak_deadlines **out);

/* Stops the sweeper and frees d.  Call after the listener has stopped
 * (every connection closed).  NULL is allowed. */
void ak_deadlines_stop(ak_deadlines *d);

/* A new connection on socket fd, in phase headers.  NULL when d is NULL
 * or out of memory (the connection then has no deadline). */
ak_dl_conn *ak_dl_open(ak_deadlines *d, int fd);

/* The connection is closing: its record is freed.  Must come before the
 * socket is closed.  c may be NULL. */
void ak_dl_close(ak_deadlines *d, ak_dl_conn *c);

/* Phase changes (c may be NULL): the headers are complete; the body is
 * complete or an answer is queued; the request completed. */
void ak_dl_body(ak_deadlines *d, ak_dl_conn *c);
void ak_dl_handled(ak_deadlines *d, ak_dl_conn *c);
void ak_dl_next(ak_deadlines *d, ak_dl_conn *c);

#endif /* AKIDB_SERVER_DEADLINE_H */
