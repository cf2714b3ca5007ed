# console_embed.cmake - turns the web console's files (src/server/console/*)
# into a C source of byte arrays, so `akidb serve` serves the console from
# its own binary with nothing read from disk at run time.
#
#   cmake -DDIR=<console folder> -DOUT=<file.c> -P console_embed.cmake
#
# The C source defines ak_console_count and, per file in name order,
# ak_console_name[i], ak_console_data[i] (the bytes plus a trailing NUL) and
# ak_console_size[i] (without the NUL); routes_console.c serves them.
if(NOT DIR OR NOT OUT)
  message(FATAL_ERROR "console_embed.cmake: set -DDIR=<folder> and -DOUT=<file.c>")
endif()
file(GLOB files RELATIVE "${DIR}" "${DIR}/*")
list(SORT files)
set(src "/* Generated from src/server/console by console_embed.cmake; do not edit. */\n")
string(APPEND src "#include <stddef.h>\n\n")
set(names "")
set(datas "")
set(sizes "")
set(i 0)
foreach(f ${files})
  if(IS_DIRECTORY "${DIR}/${f}" OR NOT f MATCHES "^[A-Za-z0-9_.-]+$" OR f MATCHES "^\\.")
    continue()
  endif()
  file(SIZE "${DIR}/${f}" size)
  file(READ "${DIR}/${f}" hex HEX)
  string(REGEX REPLACE "(................................)" "\\1\n" hex "${hex}")   # 16 bytes a line
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
  string(APPEND src "/* ${f} */\nstatic const unsigned char file${i}[] = {\n${hex}0x00};\n\n")
  string(APPEND names "    \"${f}\",\n")
  string(APPEND datas "    file${i},\n")
  string(APPEND sizes "    ${size},\n")
  math(EXPR i "${i} + 1")
endforeach()
if(i EQUAL 0)
  message(FATAL_ERROR "console_embed.cmake: no files in ${DIR}")
endif()
string(APPEND src "const size_t ak_console_count = ${i};\n")
string(APPEND src "const char *const ak_console_name[] = {\n${names}};\n")
string(APPEND src "const unsigned char *const ak_console_data[] = {\n${datas}};\n")
string(APPEND src "const size_t ak_console_size[] = {\n${sizes}};\n")
# Rewrite only when the text changed, so an unchanged console rebuilds nothing.
if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
  if(old STREQUAL src)
    return()
  endif()
endif()
file(WRITE "${OUT}" "${src}")
