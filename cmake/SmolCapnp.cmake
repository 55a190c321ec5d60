# Schemas are compiled at build time; generated headers land in the build
# tree as "ipc/<name>.capnp.h".
function(smol_capnp_compile out_var)
  set(srcs)
  foreach(schema ${ARGN})
    get_filename_component(name ${schema} NAME)
    file(RELATIVE_PATH rel ${CMAKE_SOURCE_DIR} ${CMAKE_CURRENT_SOURCE_DIR}/${schema})
    get_filename_component(rel_dir ${rel} DIRECTORY)
    set(out_cc ${CMAKE_BINARY_DIR}/${rel_dir}/${name}.c++)
    add_custom_command(
      OUTPUT ${out_cc} ${CMAKE_BINARY_DIR}/${rel_dir}/${name}.h
      COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/${rel_dir}
      COMMAND capnp compile -oc++:${CMAKE_BINARY_DIR} --src-prefix=${CMAKE_SOURCE_DIR}
              ${CMAKE_CURRENT_SOURCE_DIR}/${schema}
      DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/${schema}
      WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}
      COMMENT "capnp compile ${rel}")
    set_source_files_properties(${out_cc} PROPERTIES LANGUAGE CXX)
    list(APPEND srcs ${out_cc})
  endforeach()
  set(${out_var} ${srcs} PARENT_SCOPE)
endfunction()
