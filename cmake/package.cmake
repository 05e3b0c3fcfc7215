# Installation beyond the library (the man page, the peer-signal service, the docs) and
# the Debian package made by CPack: `cpack -G DEB --config build/CPackConfig.cmake`
# (docs/architecture.md section 13).
#
# The service's files go to absolute places (/lib/systemd/system, /etc/default), so they
# are their own install component, left out of a plain `cmake --install` (which would
# otherwise write into /etc whatever --prefix says): `cmake --install build --component
# service` installs them by hand; the package always has them.
set(pkg ${PROJECT_SOURCE_DIR}/packaging/debian)

if(TARGET peer-cli)
  # The man page, gzipped as Debian wants it (-n: no name or time stamp, reproducible).
  configure_file(${PROJECT_SOURCE_DIR}/man/peer.1 ${CMAKE_CURRENT_BINARY_DIR}/man/peer.1 @ONLY)
  add_custom_command(OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/man/peer.1.gz
    COMMAND gzip -9nf -k ${CMAKE_CURRENT_BINARY_DIR}/man/peer.1
    DEPENDS ${CMAKE_CURRENT_BINARY_DIR}/man/peer.1 COMMENT "Compressing the man page" VERBATIM)
  add_custom_target(peer-man ALL DEPENDS ${CMAKE_CURRENT_BINARY_DIR}/man/peer.1.gz)
  install(FILES ${CMAKE_CURRENT_BINARY_DIR}/man/peer.1.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)

  install(FILES ${pkg}/peer-signal.service DESTINATION /lib/systemd/system COMPONENT service EXCLUDE_FROM_ALL)
  install(FILES ${pkg}/peer-signal.default DESTINATION /etc/default RENAME peer-signal
          COMPONENT service EXCLUDE_FROM_ALL)
  install(FILES ${pkg}/peer-signal.sysusers DESTINATION lib/sysusers.d RENAME peer-signal.conf
          COMPONENT service EXCLUDE_FROM_ALL)
endif()

# A stripped install (cpack strips, as `cmake --install --strip` does) strips executables
# only; the static library keeps its debug information unless stripped here as dh_strip
# does (--strip-debug: its symbols stay, a consumer still links).
install(CODE "if(CMAKE_INSTALL_DO_STRIP)
  execute_process(COMMAND \"${CMAKE_STRIP}\" --strip-debug --remove-section=.comment --remove-section=.note
                          --enable-deterministic-archives
                  \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/$<TARGET_FILE_NAME:peer>\")
endif()")

# Documentation: what a reader of the package needs beside the man page.
install(FILES README.md docs/signaling.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES ${PROJECT_SOURCE_DIR}/examples/connect.cpp ${PROJECT_SOURCE_DIR}/examples/channel.cpp
              ${PROJECT_SOURCE_DIR}/examples/signal.cpp ${PROJECT_SOURCE_DIR}/examples/video.cpp
              ${PROJECT_SOURCE_DIR}/examples/file_transfer.cpp ${PROJECT_SOURCE_DIR}/examples/README.md
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
# Debian's copyright and changelog (gzipped; a native package's is changelog.gz).
file(STRINGS ${pkg}/changelog changelog_top LIMIT_COUNT 1)
if(NOT changelog_top MATCHES "^peer \\(${PROJECT_VERSION}\\)")
  message(WARNING "packaging/debian/changelog: the top entry is not version ${PROJECT_VERSION}")
endif()
add_custom_command(OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/changelog.gz
  COMMAND gzip -9n -c ${pkg}/changelog > ${CMAKE_CURRENT_BINARY_DIR}/changelog.gz
  DEPENDS ${pkg}/changelog COMMENT "Compressing the Debian changelog" VERBATIM)
add_custom_target(peer-changelog ALL DEPENDS ${CMAKE_CURRENT_BINARY_DIR}/changelog.gz)
install(FILES ${pkg}/copyright ${CMAKE_CURRENT_BINARY_DIR}/changelog.gz DESTINATION ${CMAKE_INSTALL_DOCDIR})

# --- CPack: one .deb with everything -------------------------------------------------
set(CPACK_PACKAGE_NAME peer)
set(CPACK_PACKAGE_VENDOR "peer maintainers")
set(CPACK_PACKAGE_CONTACT "peer maintainers <maintainers@users.noreply.r-seed-b1d4f94a.example>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "WebRTC peer connections for C++: library, command line, signaling server")
# Debian wants the description's lines under 80 columns.
set(CPACK_PACKAGE_DESCRIPTION "peer is a C++20 WebRTC stack: its own ICE agent, DTLS (OpenSSL),
data channels (usrsctp), media (VP8, Opus over SRTP) and a signaling server.
A peer is an observable key/value store extended by plugins (connect,
channel, signal, video). This package holds the static library with its
headers, CMake and pkg-config files, the peer command (demo, signal, send,
recv, pipe, echo, serve) and the peer-signal systemd service.")
set(CPACK_PACKAGE_HOMEPAGE_URL "https://github.com/bredele/peer")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_INSTALL_PREFIX /usr)  # with CPACK_SET_DESTDIR, the prefix the install runs with
set(CPACK_SET_DESTDIR ON)  # the service's absolute destinations land in the package, not in /
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_GROUPING ALL_COMPONENTS_IN_ONE)
set(CPACK_COMPONENTS_ALL ${CMAKE_INSTALL_DEFAULT_COMPONENT_NAME})
if(TARGET peer-cli)
  list(APPEND CPACK_COMPONENTS_ALL service)
endif()
set(CPACK_DEBIAN_PACKAGE_NAME peer)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Depends: from the shared libraries the peer command links (dpkg-shlibdeps).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# Building against libpeer.a needs the headers of what it links (peer.pc's Requires,
# peerConfig.cmake's find_dependency): recommended, so a plain `apt install` brings them.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "pkg-config, nlohmann-json3-dev, libssl-dev, libusrsctp-dev, libsrtp2-dev, libvpx-dev, libopus-dev, libfmt-dev, libspdlog-dev")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${pkg}/postinst ${pkg}/prerm ${pkg}/postrm ${pkg}/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
