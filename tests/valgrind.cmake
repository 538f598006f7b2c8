# The multi-host scenario (integration/test_ha_netns.py) with every mxd under valgrind, for leaks and
# memory errors that the sanitizer build cannot show (valgrind does not run ASan binaries). Included at
# the end of tests/CMakeLists.txt, so TEST_ENV and PY are set.
#
# With MXD_SANITIZE on and valgrind installed: mxd_plain (ExternalProject, not part of "all") configures
# this same tree without the sanitizers into valgrind-plain/ of the build directory and builds all of it
# (mxd, mxctl, mxadmin: what deploy/quickstart.sh builds, so that a warning only the optimised build
# without sanitizers gives, such as -Wmaybe-uninitialized, fails the suite too); the test integration/test_ha_netns_valgrind_build (a CTest fixture) builds it, and
# integration/test_ha_netns_valgrind runs the scenario with MXD_BIN pointing at that mxd and
# MXD_VALGRIND=1, which makes tests/lib/mxtest.py wrap each mxd in valgrind (one --log-file each) and fail
# on any error or definitely/indirectly lost bytes when it stops it. By hand:
#   cmake --build build --target mxd_plain && ctest --test-dir build -R test_ha_netns_valgrind

find_program(VALGRIND_EXECUTABLE valgrind)
if(MXD_SANITIZE AND VALGRIND_EXECUTABLE)
  include(ExternalProject)
  set(MXD_PLAIN_DIR ${CMAKE_BINARY_DIR}/valgrind-plain)
  cmake_host_system_information(RESULT MXD_PLAIN_JOBS QUERY NUMBER_OF_LOGICAL_CORES)
  ExternalProject_Add(mxd_plain
    SOURCE_DIR ${CMAKE_SOURCE_DIR}
    BINARY_DIR ${MXD_PLAIN_DIR}
    CMAKE_ARGS -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMXD_SANITIZE=OFF -DMXD_FUZZ=OFF -DMXD_TESTS=OFF
               -DMXD_WERROR=${MXD_WERROR} -DCMAKE_C_COMPILER=${CMAKE_C_COMPILER}
    BUILD_COMMAND ${CMAKE_COMMAND} --build <BINARY_DIR> --parallel ${MXD_PLAIN_JOBS}
    INSTALL_COMMAND ""
    BUILD_ALWAYS TRUE
    EXCLUDE_FROM_ALL TRUE)

  add_test(NAME integration/test_ha_netns_valgrind_build
           COMMAND ${CMAKE_COMMAND} --build ${CMAKE_BINARY_DIR} --target mxd_plain)
  set_tests_properties(integration/test_ha_netns_valgrind_build PROPERTIES
                       FIXTURES_SETUP mxd_plain TIMEOUT 1200)

  set(VALGRIND_TEST_ENV ${TEST_ENV})
  list(FILTER VALGRIND_TEST_ENV EXCLUDE REGEX "^(MXD_BIN|MXCTL_BIN)=")
  list(APPEND VALGRIND_TEST_ENV "MXD_BIN=${MXD_PLAIN_DIR}/mxd" "MXCTL_BIN=${MXD_PLAIN_DIR}/mxctl"
       "MXD_VALGRIND=1")
  add_test(NAME integration/test_ha_netns_valgrind
           COMMAND ${PY} ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_ha_netns.py)
  set_tests_properties(integration/test_ha_netns_valgrind PROPERTIES
                       ENVIRONMENT "${VALGRIND_TEST_ENV}" FIXTURES_REQUIRED mxd_plain TIMEOUT 600)
endif()
