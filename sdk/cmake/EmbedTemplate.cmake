# cmake -DTEMPLATE_DIR=sdk/template -DOUTPUT=plugin_template_files.cpp -P EmbedTemplate.cmake
#
# Turns the `busway plugins new` template into C++ the busway program is compiled with: each
# file becomes raw string literals of at most 2000 bytes (concatenated by the compiler), so
# no compiler's limit on one literal is reached. Placeholders (@PLUGIN_NAME@...) are left
# for the command to fill in. Defines, in namespace busway::cli:
#   std::size_t pluginTemplateFileCount();
#   std::string_view pluginTemplatePath(std::size_t index);     // "src/@PLUGIN_NAME@.cpp"
#   std::string_view pluginTemplateContent(std::size_t index);
cmake_minimum_required(VERSION 3.25)
if(NOT TEMPLATE_DIR OR NOT OUTPUT)
  message(FATAL_ERROR "usage: cmake -DTEMPLATE_DIR=DIR -DOUTPUT=FILE.cpp -P EmbedTemplate.cmake")
endif()

set(chunk_size 2000)
set(delimiter "bw")
file(GLOB_RECURSE files LIST_DIRECTORIES false RELATIVE "${TEMPLATE_DIR}" "${TEMPLATE_DIR}/*")
list(SORT files)
if(NOT files)
  message(FATAL_ERROR "${TEMPLATE_DIR}: no template files")
endif()

set(out "// Generated from ${TEMPLATE_DIR} by sdk/cmake/EmbedTemplate.cmake: do not edit.\n")
string(APPEND out "#include <cstddef>\n#include <iterator>\n#include <string_view>\n\n")
string(APPEND out "namespace busway::cli {\n\n")
string(APPEND out "std::size_t pluginTemplateFileCount();\n")
string(APPEND out "std::string_view pluginTemplatePath(std::size_t index);\n")
string(APPEND out "std::string_view pluginTemplateContent(std::size_t index);\n\n")
string(APPEND out "namespace {\n\n")

set(index 0)
set(table "")
foreach(file IN LISTS files)
  file(READ "${TEMPLATE_DIR}/${file}" content)
  string(FIND "${content}" ")${delimiter}\"" clash)
  if(NOT clash EQUAL -1)
    message(FATAL_ERROR "${TEMPLATE_DIR}/${file} contains )${delimiter}\" which ends a raw string; change the delimiter in EmbedTemplate.cmake")
  endif()
  string(LENGTH "${content}" length)
  string(APPEND out "// ${file}\nconstexpr char kFile${index}[] =")
  if(length EQUAL 0)
    string(APPEND out " \"\"")
  endif()
  set(position 0)
  while(position LESS length)
    string(SUBSTRING "${content}" ${position} ${chunk_size} chunk)
    string(APPEND out "\n    R\"${delimiter}(${chunk})${delimiter}\"")
    math(EXPR position "${position} + ${chunk_size}")
  endwhile()
  string(APPEND out ";\n\n")
  string(APPEND table "    {\"${file}\", std::string_view(kFile${index}, sizeof(kFile${index}) - 1)},\n")
  math(EXPR index "${index} + 1")
endforeach()

string(APPEND out "struct TemplateFile {\n  std::string_view path;\n  std::string_view content;\n};\n\n")
string(APPEND out "constexpr TemplateFile kFiles[] = {\n${table}};\n\n}  // namespace\n\n")
string(APPEND out "std::size_t pluginTemplateFileCount() { return std::size(kFiles); }\n")
string(APPEND out "std::string_view pluginTemplatePath(std::size_t index) { return kFiles[index].path; }\n")
string(APPEND out "std::string_view pluginTemplateContent(std::size_t index) { return kFiles[index].content; }\n\n")
string(APPEND out "}  // namespace busway::cli\n")

# Rewrite only on change, so the busway program is not relinked for nothing.
set(previous "")
if(EXISTS "${OUTPUT}")
  file(READ "${OUTPUT}" previous)
endif()
if(NOT previous STREQUAL out)
  file(WRITE "${OUTPUT}" "${out}")
endif()
