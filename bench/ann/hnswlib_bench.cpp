/*
 * hnswlib_bench.cpp - the hnswlib side of AkiDB's ANN comparison.  Reads the
 * same .fvecs base/query files and .ivecs ground truth as `akidb bench ann`,
 * builds hnswlib's HierarchicalNSW with the same M / ef_construction /
 * thread count (workers pull the next id from a shared counter, like akidb's
 * build), and sweeps ef with the same single-thread method (one warm-up
 * pass, then every query in order, wall clock), printing the same JSON
 * shape so bench/ann/run.sh can compute ratios.  --rounds, --save-index
 * and --load-index work as in `akidb bench ann` (median QPS over rounds;
 * a saved graph lets run.sh alternate search-only runs of both engines).
 *
 * Usage: hnswlib_bench --base F.fvecs --query F.fvecs --gt F.ivecs [--M 16]
 *        [--efc 200] [--threads 2] [--metric l2|ip] [--ef 10,20,...] [--k 10]
 *        [--nq N] [--rounds R] [--save-index F] [--load-index F]
 */
#include <hnswlib/hnswlib.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <algorithm>
#include <fstream>
#include <thread>
#include <time.h>
#include <vector>

/* Reads an .fvecs/.ivecs file into rows x dim 4-byte values; exits on error. */
template <typename T>
static std::vector<T> read_vecs(const char *path, size_t &rows, size_t &dim)
{
    FILE *f = std::fopen(path, "rb");
    if (!f) {
        std::fprintf(stderr, "hnswlib_bench: cannot open %s\n", path);
        std::exit(1);
    }
    std::vector<T> out;
    rows = 0;
    dim = 0;
    int32_t d;
    while (std::fread(&d, 4, 1, f) == 1) {
        if (d <= 0 || (dim && (size_t)d != dim)) {
            std::fprintf(stderr, "hnswlib_bench: %s: bad row dimension %d\n", path, d);
            std::exit(1);
        }
        dim = (size_t)d;
        size_t old = out.size();
        out.resize(old + dim);
        if (std::fread(out.data() + old, 4, dim, f) != dim) {
            std::fprintf(stderr, "hnswlib_bench: %s: truncated\n", path);
            std::exit(1);
        }
        rows++;
    }
    std::fclose(f);
    return out;
}

/* CPU seconds of the calling thread (see cmd_bench_ann.c: cpu_qps). */
static double thread_cpu_now()
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double now()
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

int main(int argc, char **argv)
{
    const char *base_path = nullptr, *query_path = nullptr, *gt_path = nullptr;
    std::string ef_list = "10,20,40,80,120,200,400", metric = "l2";
    long M = 16, efc = 200, threads = 2, k = 10, nq_limit = 0, rounds = 1;
    const char *save_index = nullptr, *load_index = nullptr;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string a = argv[i];
        const char *v = argv[i + 1];
        if (a == "--base") base_path = v;
        else if (a == "--query") query_path = v;
        else if (a == "--gt") gt_path = v;
        else if (a == "--M") M = std::atol(v);
        else if (a == "--efc") efc = std::atol(v);
        else if (a == "--threads") threads = std::atol(v);
        else if (a == "--k") k = std::atol(v);
        else if (a == "--nq") nq_limit = std::atol(v);
        else if (a == "--ef") ef_list = v;
        else if (a == "--metric") metric = v;
        else if (a == "--rounds") rounds = std::atol(v);
        else if (a == "--save-index") save_index = v;
        else if (a == "--load-index") load_index = v;
        else {
            std::fprintf(stderr, "hnswlib_bench: unknown option %s\n", a.c_str());
            return 2;
        }
    }
    if (!base_path || !query_path || !gt_path || rounds < 1 || rounds > 1000) {
        std::fprintf(stderr, "usage: hnswlib_bench --base F --query F --gt F [...]\n");
        return 2;
    }
    size_t n, dim, nq, qdim, gn, gk;
    std::vector<float> base = read_vecs<float>(base_path, n, dim);
    std::vector<float> query = read_vecs<float>(query_path, nq, qdim);
    std::vector<int32_t> gt = read_vecs<int32_t>(gt_path, gn, gk);
    if (nq_limit > 0 && (size_t)nq_limit < nq) nq = (size_t)nq_limit;
    if (qdim != dim || gn < nq || gk < (size_t)k) {
        std::fprintf(stderr, "hnswlib_bench: inconsistent inputs\n");
        return 1;
    }
    hnswlib::SpaceInterface<float> *space;
    if (metric == "l2") space = new hnswlib::L2Space(dim);
    else space = new hnswlib::InnerProductSpace(dim);

    hnswlib::HierarchicalNSW<float> *index;
    double build_s = 0;
    bool loaded = false;
    if (load_index && std::ifstream(load_index).good()) {
        index = new hnswlib::HierarchicalNSW<float>(space, std::string(load_index), false, n);
        if (index->cur_element_count != n || index->M_ != (size_t)M) {
            std::fprintf(stderr, "hnswlib_bench: %s does not match the base set / M\n", load_index);
            return 1;
        }
        loaded = true;
    } else {
        index = new hnswlib::HierarchicalNSW<float>(space, n, (size_t)M, (size_t)efc, 100);
        std::atomic<size_t> next(0);
        double t0 = now();
        std::vector<std::thread> pool;
        for (long t = 0; t < threads; t++)
            pool.emplace_back([&]() {
                for (;;) {
                    size_t i = next.fetch_add(1);
                    if (i >= n) break;
                    index->addPoint(base.data() + i * dim, (hnswlib::labeltype)i);
                }
            });
        for (auto &th : pool) th.join();
        build_s = now() - t0;
        if (save_index) index->saveIndex(save_index);
    }

    /* memory hnswlib holds for the graph: level-0 block (links + vector +
     * label per element), upper link lists, per-element pointers/levels/locks,
     * the label map and one visited list */
    size_t levels = 0;
    for (size_t i = 0; i < n; i++) levels += (size_t)index->element_levels_[i];
    size_t mem = index->max_elements_ * index->size_data_per_element_ +
                 levels * index->size_links_per_element_ +
                 index->max_elements_ * (sizeof(char *) + sizeof(int) + sizeof(std::mutex)) +
                 n * (sizeof(hnswlib::labeltype) + sizeof(hnswlib::tableint) + 16) +
                 index->max_elements_ * sizeof(unsigned short);
    size_t raw = n * dim * sizeof(float) + n * index->size_links_level0_ +
                 levels * index->size_links_per_element_;

    std::printf("{\"engine\":\"hnswlib\",\"simd\":\"compiler\",\"metric\":\"%s\",\"n\":%zu,"
                "\"dim\":%zu,\"nq\":%zu,\"k\":%ld,\"M\":%ld,\"efc\":%ld,\"threads\":%ld,"
                "\"loaded\":%s,\"build_s\":%.3f,\"memory_bytes\":%zu,\"raw_bytes\":%zu,"
                "\"vectors_bytes\":%zu,\"rounds\":%ld,\"sweep\":[",
                metric.c_str(), n, dim, nq, k, M, efc, threads, loaded ? "true" : "false",
                build_s, mem, raw, n * dim * sizeof(float), rounds);
    index->setEf(10);
    for (size_t i = 0; i < nq && i < 1000; i++) index->searchKnn(query.data() + i * dim, (size_t)k);
    std::vector<long> efs;
    for (const char *e = ef_list.c_str(); *e;) {
        char *end;
        long ef = std::strtol(e, &end, 10);
        if (end == e || ef < 1) break;
        efs.push_back(ef);
        e = *end == ',' ? end + 1 : end;
    }
    std::vector<std::vector<double>> qps(efs.size()), cqps(efs.size());
    std::vector<double> recall(efs.size());
    for (long r = 0; r < rounds; r++) {
        for (size_t e = 0; e < efs.size(); e++) {
            index->setEf((size_t)efs[e]);
            double hit = 0, t1 = now(), c1 = thread_cpu_now();
            for (size_t i = 0; i < nq; i++) {
                auto res = index->searchKnn(query.data() + i * dim, (size_t)k);
                const int32_t *g = gt.data() + i * gk;
                while (!res.empty()) {
                    auto lab = (int32_t)res.top().second;
                    res.pop();
                    for (long b = 0; b < k; b++)
                        if (lab == g[b]) { hit++; break; }
                }
            }
            qps[e].push_back((double)nq / (now() - t1));
            cqps[e].push_back((double)nq / (thread_cpu_now() - c1));
            recall[e] = hit / ((double)nq * k);
        }
    }
    for (size_t e = 0; e < efs.size(); e++) {
        std::printf("%s{\"ef\":%ld,\"recall\":%.4f,\"qps_all\":[", e ? "," : "", efs[e], recall[e]);
        for (size_t r = 0; r < qps[e].size(); r++) std::printf("%s%.1f", r ? "," : "", qps[e][r]);
        std::printf("],\"cpu_qps_all\":[");
        for (size_t r = 0; r < cqps[e].size(); r++) std::printf("%s%.1f", r ? "," : "", cqps[e][r]);
        std::vector<double> v = qps[e];
        std::sort(v.begin(), v.end());
        size_t m = v.size();
        double med = m % 2 ? v[m / 2] : 0.5 * (v[m / 2 - 1] + v[m / 2]);
        std::printf("],\"qps\":%.1f}", med);
    }
    std::printf("]}\n");
    delete index;
    delete space;
    return 0;
}
