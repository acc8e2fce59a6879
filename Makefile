# zmqpool: build, header, C tests, install. `make help` lists the targets.

PREFIX      ?= /usr/local
BINDIR      ?= $(PREFIX)/bin
LIBDIR      ?= $(PREFIX)/lib
INCLUDEDIR  ?= $(PREFIX)/include
CARGO       ?= cargo
CC          ?= cc
CXX         ?= c++
VALGRIND    ?= valgrind
CBINDGEN_VERSION := 0.29.4

RELEASE := target/release
LIB_SO  := $(RELEASE)/libzmqpool.so
LIB_A   := $(RELEASE)/libzmqpool.a
# The opt-in variant that also replaces malloc (cargo feature malloc-override),
# built in its own target directory so the feature never reaches the plain library.
LIB_MALLOC := $(RELEASE)/libzmqpool-malloc.so
MALLOC_TARGET := target/malloc
# The plain shared library, built alone (see the rule below).
SO_TARGET := target/cdylib
# Every live zmqpool message names a release function inside the library,
# and libzmq may call it long after a dlclose(): the shared libraries must
# never be unmapped (-z nodelete makes dlclose keep them).
SO_LINK := -- -C link-arg=-Wl,-z,nodelete
BUILD   := build
HEADER  := include/zmqpool.h

CWARN    := -Wall -Wextra -Wpedantic -Werror
CFLAGS   ?= -O2 -g
TEST_CFLAGS := $(CFLAGS) $(CWARN) -std=c99 -Iinclude
# System paths are looked up when a recipe uses them (recursive `=`), never
# when the Makefile is parsed: `make setup test` parses before setup has
# installed anything.
ZMQ_LIBS = $(shell pkg-config --libs libzmq 2>/dev/null || echo -lzmq)
CZMQ_LIBS = $(shell pkg-config --libs libczmq 2>/dev/null || echo -lczmq)
VALGRIND_RUN := $(VALGRIND) -q --error-exitcode=99 --leak-check=full \
	--show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect

.PHONY: miri bench-decay bench-rss check-rss check-libzmq check-libzmq-ci check-pyzmq bench bench-e2e bench-size bench-zmtp fuzz setup-fuzz setup-bench test-install setup demo all lib header check-header test test-rust test-c lint install clean help FORCE

all: lib $(HEADER)

help:
	@echo "make            build the release library (.so/.a) and the header"
	@echo "make test       cargo tests, lint, header check, C tests (plain, linked, preloaded, valgrind)"
	@echo "make demo       build and run the demo on real libzmq"
	@echo "make install    install libraries, header and zmqpool.pc under PREFIX=$(PREFIX)"
	@echo "make header     regenerate include/zmqpool.h with cbindgen"
	@echo "make bench      C allocation benchmark vs libzmq, mimalloc, pmr (make setup-bench first)"
	@echo "make bench-e2e  end-to-end throughput/latency through libzmq, 5 configurations"
	@echo "make bench-size inproc throughput against message size, vs the no-allocation floor"
	@echo "make bench-zmtp ZMTP encode/decode throughput vs memcpy"
	@echo "make bench-decay  decay on vs off: same-thread, hand-off and inproc throughput"
	@echo "make bench-rss  resident memory after a burst, then idle or a trickle (RSS over time)"
	@echo "make check-libzmq  libzmq's own test suite (Debian source, with and without drafts) under zmqpool"
	@echo "make check-pyzmq   pyzmq from PyPI under both preloads"
	@echo "make fuzz       fuzz the ZMTP decoder for FUZZ_SECONDS (make setup-fuzz first)"
	@echo "make miri       the message layer and the codec's unit tests under Miri (nightly)"
	@echo "make clean      remove build output"

lib: $(LIB_SO)

# Cargo decides what to rebuild (FORCE: it is always asked); make looks at
# the files' times afterwards, so programs linking them are relinked only
# when a library really changed.
#
# The shared libraries are built alone (`cargo rustc --crate-type cdylib`;
# Cargo.toml lists only staticlib and rlib): compiled together with them,
# rustc gives every internal function and static default visibility and
# reaches each through the GOT (`objdump -d | grep -c '<_DYNAMIC+'`: 2,042
# instructions against 62): a load more per static and an indirect call
# per helper (no time difference measured beyond the noise).
$(LIB_SO) $(LIB_A) $(LIB_MALLOC) &: FORCE
	$(CARGO) build --release --locked
	$(CARGO) rustc --release --locked --lib --crate-type cdylib --target-dir $(SO_TARGET) $(SO_LINK)
	$(CARGO) rustc --release --locked --lib --crate-type cdylib --features malloc-override --target-dir $(MALLOC_TARGET) $(SO_LINK)
	@# Replaced (never rewritten in place: a running process may map it),
	@# and only when it changed.
	@cmp -s $(SO_TARGET)/release/libzmqpool.so $(LIB_SO) || \
	  { cp $(SO_TARGET)/release/libzmqpool.so $(LIB_SO).tmp && mv -f $(LIB_SO).tmp $(LIB_SO); }
	@cmp -s $(MALLOC_TARGET)/release/libzmqpool.so $(LIB_MALLOC) || \
	  { cp $(MALLOC_TARGET)/release/libzmqpool.so $(LIB_MALLOC).tmp && mv -f $(LIB_MALLOC).tmp $(LIB_MALLOC); }

header:
	cbindgen --quiet --config cbindgen.toml --crate zmqpool --output $(HEADER)

# Fails when the committed header is not what cbindgen makes from the source.
check-header:
	@mkdir -p $(BUILD)
	cbindgen --quiet --config cbindgen.toml --crate zmqpool --output $(BUILD)/zmqpool.h
	@diff -u $(HEADER) $(BUILD)/zmqpool.h || { echo "include/zmqpool.h is stale: run 'make header' and commit it"; exit 1; }

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets -- -D warnings
	$(CARGO) clippy --locked --all-targets --no-default-features -- -D warnings
	$(CARGO) clippy --locked --lib --features malloc-override --target-dir $(MALLOC_TARGET) -- -D warnings
	$(CARGO) clippy --locked --lib --features no-static-tls --target-dir target/no-static-tls -- -D warnings
	@# The Rust API's documentation builds clean (no link to a private item).
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --locked --no-deps
	@# No import cycle between files, no import from a lower layer upward.
	python3 scripts/layers_check.py src

test-rust:
	$(CARGO) test --locked
	@# The fallback build's thread lookup (table and thread-local, no static TLS).
	$(CARGO) test --locked --lib --features no-static-tls --target-dir target/no-static-tls pool::

# ---- C tests ---------------------------------------------------------------
C_TESTS := $(BUILD)/test_decay $(BUILD)/stats_workload $(BUILD)/test_threads $(BUILD)/test_fork_malloc $(BUILD)/test_oom $(BUILD)/test_unload $(BUILD)/test_send_ref $(BUILD)/test_send_linked $(BUILD)/test_cppzmq_ref $(BUILD)/test_cppzmq_linked $(BUILD)/test_czmq_ref $(BUILD)/test_czmq_linked \
	$(BUILD)/test_ctor_ref $(BUILD)/test_ctor_linked $(BUILD)/test_zmtp $(BUILD)/test_malloc $(BUILD)/test_soak_ref $(BUILD)/test_soak_linked $(BUILD)/test_local_scope $(BUILD)/test_two_libzmq $(BUILD)/test_two_at_load $(BUILD)/bundled/libzmq-bundled.so $(BUILD)/test_passthrough $(BUILD)/test_passthrough_432 $(BUILD)/test_sockets_ref $(BUILD)/test_sockets_linked $(BUILD)/test_dlopen $(BUILD)/test_pool $(BUILD)/test_msg_ref $(BUILD)/test_msg_linked $(BUILD)/test_layout \
	$(BUILD)/test_header_c $(BUILD)/test_header_cpp $(BUILD)/test_header_alone \
	$(BUILD)/test_exit_ref $(BUILD)/test_exit_linked $(BUILD)/test_rlimit_ref $(BUILD)/test_bursts_ref $(BUILD)/test_many_objects_linked $(BUILD)/test_many_objects_plain $(BUILD)/many/object-40.so

# What every test that checks for zmqpool includes (defined before any rule
# uses it: prerequisites are expanded when the rule is read).
PROBE := c_tests/harness.h c_tests/zmqpool_probe.h $(HEADER)

$(BUILD):
	mkdir -p $(BUILD)

# A process ends when its threads do (helper thread, pthread_exit, fork).
$(BUILD)/test_exit_ref: c_tests/test_exit.c $(PROBE) | $(BUILD)
	$(CC) $(TEST_CFLAGS) -std=gnu99 -o $@ $< $(ZMQ_LIBS) -ldl -lpthread

$(BUILD)/test_exit_linked: c_tests/test_exit.c $(PROBE) $(LIB_SO) | $(BUILD)
	$(CC) $(TEST_CFLAGS) -std=gnu99 -o $@ $< -L$(RELEASE) -Wl,-rpath,$(abspath $(RELEASE)) -lzmqpool $(ZMQ_LIBS) -ldl -lpthread

# Reference: libzmq alone.
$(BUILD)/test_msg_ref: c_tests/test_msg.c $(PROBE) | $(BUILD)
	$(CC) $(TEST_CFLAGS) -o $@ $< $(ZMQ_LIBS) -ldl

# zmqpool linked ahead of libzmq: its zmq_msg_* win.
$(BUILD)/test_msg_linked: c_tests/test_msg.c $(PROBE) $(LIB_SO) | $(BUILD)
	$(CC) $(TEST_CFLAGS) -o $@ c_tests/test_msg.c -L$(RELEASE) -Wl,-rpath,$(abspath $(RELEASE)) -lzmqpool $(ZMQ_LIBS) -ldl

$(BUILD)/test_pool: c_tests/test_pool.c c_tests/harness.h $(HEADER) $(LIB_SO) | $(BUILD)
	$(CC) $(TEST_CFLAGS) -std=gnu99 -o $@ c_tests/test_pool.c -L$(RELEASE) -Wl,-rpath,$(abspath $(RELEASE)) -lzmqpool $(ZMQ_LIBS) -lpthread

$(BUILD)/test_threads: c_tests/test_threads.cpp c_tests/harness.h $(HEADER) $(LIB_SO) | $(BUILD)
	$(CXX) $(CFLAGS) $(CWARN) -std=c++17 -Iinclude -o $@ c_tests/test_threads.cpp -L$(RELEASE) -Wl,-rpath,$(abspath $(RELEASE)) -lzmqpool $(ZMQ_LIBS) -lpthread

# A known workload whose JSON statistics c_tests/check_stats_json.py checks.
$(BUILD)/stats_workload: c_tests/stats_workload.c $(HEADER) $(LIB_SO) | $(BUILD)
	$(CC) $(TEST_CFLAGS) -std=gnu99 -o $@ c_tests/stats_workload.c -L$(RELEASE) -Wl,-rpath,$(abspath $(RELEASE)) -lzmqpool $(ZMQ_LIBS) -lpthread

$(BUILD)/test_decay: c_tests/test_decay.c c_tests/harness.h $(HEADER) $(LIB_SO) | $(BUILD)
	$(CC) $(TEST_CFLAGS) -std=gnu99 -o $@ c_tests/test_decay.c -L$(RELEASE) -Wl,-rpath,$(abspath $(RELEASE)) -lzmqpool $(ZMQ_LIBS) -lpthread

$(BUILD)/test_oom: c_tests/test_oom.c c_tests/harness.h $(HEADER) $(LIB_SO) | $(BUILD)
	$(CC) $(TEST_CFLAGS) -std=gnu99 -o $@ c_tests/test_oom.c -L$(RELEASE) -Wl,-rpath,$(abspath $(RELEASE)) -lzmqpool $(ZMQ_LIBS) -lpthread

# fork() while other threads allocate: plain, and under the malloc preload.
$(BUILD)/test_fork_malloc: c_tests/test_fork_malloc.c $(PROBE) | $(BUILD)
	$(CC) $(TEST_CFLAGS) -std=gnu99 -o $@ $< $(ZMQ_LIBS) -lpthread -ldl

$(BUILD)/test_unload: c_tests/test_unload.c c_tests/harness.h $(LIB_SO) | $(BUILD)
	$(CC) $(TEST_CFLAGS) -std=gnu99 -DZMQPOOL_SO='"$(abspath $(LIB_SO))"' -o $@ c_tests/test_unload.c $(ZMQ_LIBS) -ldl

$(BUILD)/test_dlopen: c_tests/test_dlopen.c c_tests/harness.h $(LIB_SO) | $(BUILD)
	$(CC) $(TEST_CFLAGS) -std=gnu99 -DZMQPOOL_SO='"$(abspath $(LIB_SO))"' -o $@ c_tests/test_dlopen.c -ldl -lpthread

$(BUILD)/test_sockets_ref: c_tests/test_sockets.c $(PROBE) | $(BUILD)
	$(CC) $(TEST_CFLAGS) -std=gnu99 -o $@ $< $(ZMQ_LIBS) -lpthread
$(BUILD)/test_sockets_linked: c_tests/test_sockets.c $(PROBE) $(LIB_SO) | $(BUILD)
	$(CC) $(TEST_CFLAGS) -std=gnu99 -o $@ c_tests/test_sockets.c -L$(RELEASE) -Wl,-rpath,$(abspath $(RELEASE)) -lzmqpool $(ZMQ_LIBS) -lpthread

$(BUILD)/test_soak_ref: c_tests/test_soak.c $(PROBE) | $(BUILD)
	$(CC) $(TEST_CFLAGS) -std=gnu99 -o $@ $< $(ZMQ_LIBS) -lpthread -ldl
$(BUILD)/test_soak_linked: c_tests/test_soak.c $(PROBE) $(LIB_SO) | $(BUILD)
	$(CC) $(TEST_CFLAGS) -std=gnu99 -o $@ c_tests/test_soak.c -L$(RELEASE) -Wl,-rpath,$(abspath $(RELEASE)) -lzmqpool $(ZMQ_LIBS) -lpthread -ldl

# zmq_send and the real clients (cppzmq, czmq): against libzmq alone and
# with zmqpool linked ahead of libzmq (or of czmq); preloaded in test-c.
$(BUILD)/test_send_ref: c_tests/test_send.c $(PROBE) | $(BUILD)
	$(CC) $(TEST_CFLAGS) -std=gnu99 -o $@ $< $(ZMQ_LIBS) -lpthread -ldl
$(BUILD)/test_send_linked: c_tests/test_send.c $(PROBE) $(LIB_SO) | $(BUILD)
	$(CC) $(TEST_CFLAGS) -std=gnu99 -o $@ c_tests/test_send.c -L$(RELEASE) -Wl,-rpath,$(abspath $(RELEASE)) -lzmqpool $(ZMQ_LIBS) -lpthread -ldl
$(BUILD)/test_cppzmq_ref: c_tests/test_cppzmq.cpp $(PROBE) | $(BUILD)
	$(CXX) $(CFLAGS) $(CWARN) -std=c++17 -Iinclude -o $@ $< $(ZMQ_LIBS) -ldl
$(BUILD)/test_cppzmq_linked: c_tests/test_cppzmq.cpp $(PROBE) $(LIB_SO) | $(BUILD)
	$(CXX) $(CFLAGS) $(CWARN) -std=c++17 -Iinclude -o $@ c_tests/test_cppzmq.cpp -L$(RELEASE) -Wl,-rpath,$(abspath $(RELEASE)) -lzmqpool $(ZMQ_LIBS) -ldl
$(BUILD)/test_czmq_ref: c_tests/test_czmq.c $(PROBE) | $(BUILD)
	$(CC) $(TEST_CFLAGS) -std=gnu99 -o $@ $< $(CZMQ_LIBS) $(ZMQ_LIBS) -ldl
$(BUILD)/test_czmq_linked: c_tests/test_czmq.c $(PROBE) $(LIB_SO) | $(BUILD)
	$(CC) $(TEST_CFLAGS) -std=gnu99 -o $@ c_tests/test_czmq.c -L$(RELEASE) -Wl,-rpath,$(abspath $(RELEASE)) -lzmqpool $(CZMQ_LIBS) $(ZMQ_LIBS) -ldl

$(BUILD)/test_zmtp: c_tests/test_zmtp.c c_tests/harness.h $(HEADER) $(LIB_SO) | $(BUILD)
	$(CC) $(TEST_CFLAGS) -std=gnu99 -o $@ c_tests/test_zmtp.c -L$(RELEASE) -Wl,-rpath,$(abspath $(RELEASE)) -lzmqpool $(ZMQ_LIBS)

# A library constructor using messages before main; linked after zmqpool,
# it is initialised first.
$(BUILD)/ctor/libctorlib.so: c_tests/ctor_lib.c | $(BUILD)
	mkdir -p $(BUILD)/ctor
	$(CC) $(CFLAGS) $(CWARN) -std=gnu99 -shared -fPIC -o $@ $< $(ZMQ_LIBS)
$(BUILD)/test_ctor_ref: c_tests/test_ctor.c $(PROBE) $(BUILD)/ctor/libctorlib.so | $(BUILD)
	$(CC) $(TEST_CFLAGS) -std=gnu99 -o $@ $< -L$(BUILD)/ctor -Wl,-rpath,$(abspath $(BUILD)/ctor) -lctorlib $(ZMQ_LIBS)
$(BUILD)/test_ctor_linked: c_tests/test_ctor.c $(PROBE) $(BUILD)/ctor/libctorlib.so $(LIB_SO) | $(BUILD)
	$(CC) $(TEST_CFLAGS) -std=gnu99 -o $@ c_tests/test_ctor.c -L$(RELEASE) -L$(BUILD)/ctor \
	  -Wl,-rpath,$(abspath $(RELEASE)) -Wl,-rpath,$(abspath $(BUILD)/ctor) -lzmqpool -lctorlib $(ZMQ_LIBS)

$(BUILD)/test_malloc: c_tests/test_malloc.c c_tests/harness.h | $(BUILD)
	$(CC) $(TEST_CFLAGS) -std=gnu99 -o $@ $< -ldl -lpthread

$(BUILD)/test_layout: c_tests/test_layout.c c_tests/harness.h c_tests/msg_size_asserts.h $(HEADER) $(LIB_SO) | $(BUILD)
	$(CC) $(TEST_CFLAGS) -o $@ c_tests/test_layout.c -L$(RELEASE) -Wl,-rpath,$(abspath $(RELEASE)) -lzmqpool -ldl

# A libzmq with another message layout, and a program linking zmqpool ahead of it.
$(BUILD)/fake/libfakezmq.so: c_tests/fake_libzmq_mutex.c | $(BUILD)
	mkdir -p $(BUILD)/fake
	$(CC) $(CFLAGS) -Wall -Wextra -std=gnu99 -shared -fPIC -o $@ $< -lpthread
$(BUILD)/test_passthrough: c_tests/test_passthrough.c c_tests/harness.h $(BUILD)/fake/libfakezmq.so $(HEADER) $(LIB_SO) | $(BUILD)
	$(CC) $(TEST_CFLAGS) -std=gnu99 -DZMQPOOL_NO_ZMQ_H -o $@ c_tests/test_passthrough.c -L$(RELEASE) -L$(BUILD)/fake \
	  -Wl,-rpath,$(abspath $(RELEASE)) -Wl,-rpath,$(abspath $(BUILD)/fake) -lzmqpool -lfakezmq
# The same against a "libzmq 4.3.2": 4.3.4's content block, an older group
# layout that only the version reveals.
$(BUILD)/fake432/libfakezmq.so: c_tests/fake_libzmq_mutex.c | $(BUILD)
	mkdir -p $(BUILD)/fake432
	$(CC) $(CFLAGS) -Wall -Wextra -std=gnu99 -DFAKE_4_3_2 -shared -fPIC -o $@ $< -lpthread
$(BUILD)/test_passthrough_432: c_tests/test_passthrough.c c_tests/harness.h $(BUILD)/fake432/libfakezmq.so $(HEADER) $(LIB_SO) | $(BUILD)
	$(CC) $(TEST_CFLAGS) -std=gnu99 -DZMQPOOL_NO_ZMQ_H -DFAKE_4_3_2 -o $@ c_tests/test_passthrough.c -L$(RELEASE) -L$(BUILD)/fake432 \
	  -Wl,-rpath,$(abspath $(RELEASE)) -Wl,-rpath,$(abspath $(BUILD)/fake432) -lzmqpool -lfakezmq

# libzmq as a language binding bundles it: renamed, with its own soname,
# dlopen'ed into a local scope by a program that links zmqpool only.
# Always checked (FORCE): the copy is redone whenever the system libzmq is
# not the one it was made from. The path is found in the recipe, after setup.
$(BUILD)/bundled/libzmq-bundled.so: FORCE | $(BUILD)
	@mkdir -p $(BUILD)/bundled
	@zmq_so=$$(ls /usr/lib/*/libzmq.so.5 2>/dev/null | head -1); \
	  test -n "$$zmq_so" || { echo "libzmq.so.5 not found: run make setup"; exit 1; }; \
	  if ! cmp -s "$$zmq_so" $(BUILD)/bundled/source.so || [ ! -f $@ ]; then \
	    echo "copying $$zmq_so to $@ (soname libzmq-bundled.so)"; \
	    cp "$$zmq_so" $(BUILD)/bundled/source.so && cp "$$zmq_so" $@ && patchelf --set-soname libzmq-bundled.so $@; \
	  fi
FORCE:
$(BUILD)/test_local_scope: c_tests/test_local_scope.c c_tests/harness.h $(HEADER) $(LIB_SO) | $(BUILD)
	$(CC) $(TEST_CFLAGS) -std=gnu99 -o $@ c_tests/test_local_scope.c -L$(RELEASE) -Wl,-rpath,$(abspath $(RELEASE)) -lzmqpool -ldl
# The same with Debian's libzmq linked too: two copies in one process.
$(BUILD)/test_two_libzmq: c_tests/test_local_scope.c c_tests/harness.h $(HEADER) $(LIB_SO) | $(BUILD)
	$(CC) $(TEST_CFLAGS) -std=gnu99 -DWITH_GLOBAL_LIBZMQ -o $@ c_tests/test_local_scope.c -L$(RELEASE) -Wl,-rpath,$(abspath $(RELEASE)) -lzmqpool $(ZMQ_LIBS) -ldl

# Both copies there from the start: the bundled one linked too (after
# Debian's, so the global scope's zmq_* are Debian's).
$(BUILD)/test_two_at_load: c_tests/test_local_scope.c c_tests/harness.h $(HEADER) $(BUILD)/bundled/libzmq-bundled.so $(LIB_SO) | $(BUILD)
	$(CC) $(TEST_CFLAGS) -std=gnu99 -DWITH_GLOBAL_LIBZMQ -o $@ c_tests/test_local_scope.c -L$(RELEASE) -Wl,-rpath,$(abspath $(RELEASE)) \
	  -lzmqpool $(ZMQ_LIBS) -Wl,--no-as-needed $(abspath $(BUILD)/bundled/libzmq-bundled.so) -Wl,-rpath,$(abspath $(BUILD)/bundled) -ldl

# Memory freed under RLIMIT_AS comes back (libzmq alone: the control).
$(BUILD)/test_rlimit_ref: c_tests/test_rlimit.c $(PROBE) | $(BUILD)
	$(CC) $(TEST_CFLAGS) -std=gnu99 -o $@ $< $(ZMQ_LIBS) -lpthread -ldl

# Bursts in a small memory cgroup (scripts/check_limits.sh runs it there).
$(BUILD)/test_bursts_ref: c_tests/test_bursts.c $(PROBE) | $(BUILD)
	$(CC) $(TEST_CFLAGS) -std=gnu99 -o $@ $< $(ZMQ_LIBS) -lpthread -ldl

# The bundled copy found after K = 0..40 other objects, linked or preloaded;
# once under a directory path of over 300 bytes.
MANY_OBJECTS := 40
$(BUILD)/many/object-$(MANY_OBJECTS).so: c_tests/tiny_object.c | $(BUILD)
	mkdir -p $(BUILD)/many
	$(CC) $(CFLAGS) $(CWARN) -shared -fPIC -o $(BUILD)/many/object-0.so $<
	for k in $$(seq 1 $(MANY_OBJECTS)); do cp $(BUILD)/many/object-0.so $(BUILD)/many/object-$$k.so; done
$(BUILD)/test_many_objects_linked: c_tests/test_many_objects.c c_tests/harness.h $(HEADER) $(LIB_SO) | $(BUILD)
	$(CC) $(TEST_CFLAGS) -std=gnu99 -DLINKED -o $@ $< -L$(RELEASE) -Wl,-rpath,$(abspath $(RELEASE)) -lzmqpool -ldl
$(BUILD)/test_many_objects_plain: c_tests/test_many_objects.c c_tests/harness.h $(HEADER) | $(BUILD)
	$(CC) $(TEST_CFLAGS) -std=gnu99 -o $@ $< -ldl
LONG_DIR := $(BUILD)/long/$(shell printf 'd%.0s' $$(seq 120))/$(shell printf 'e%.0s' $$(seq 120))/$(shell printf 'f%.0s' $$(seq 80))

# The header compiles as C99 and C++11, before or after <zmq.h>, or without it.
$(BUILD)/test_header_c: c_tests/test_header.c $(HEADER) $(LIB_SO) | $(BUILD)
	$(CC) $(CFLAGS) $(CWARN) -std=c99 -Iinclude -o $@ $< -L$(RELEASE) -Wl,-rpath,$(abspath $(RELEASE)) -lzmqpool
$(BUILD)/test_header_cpp: c_tests/test_header.c $(HEADER) $(LIB_SO) | $(BUILD)
	$(CXX) $(CFLAGS) $(CWARN) -std=c++11 -x c++ -DZMQ_INCLUDE_FIRST -Iinclude -o $@ $< -L$(RELEASE) -Wl,-rpath,$(abspath $(RELEASE)) -lzmqpool
$(BUILD)/test_header_alone: c_tests/test_header.c $(HEADER) $(LIB_SO) | $(BUILD)
	$(CC) $(CFLAGS) $(CWARN) -std=c99 -DZMQPOOL_NO_ZMQ_H -Iinclude -o $@ $< -L$(RELEASE) -Wl,-rpath,$(abspath $(RELEASE)) -lzmqpool

# Linked and preloaded runs set ZMQPOOL_TEST_EXPECT=1: each test then fails
# at once unless zmqpool really serves its messages (the loader ignores a
# mistyped LD_PRELOAD path; pass-through mode hands every call to libzmq).
EXPECT    := ZMQPOOL_TEST_EXPECT=1
PRELOAD   = $(EXPECT) LD_PRELOAD=$(abspath $(LIB_SO))
PRELOAD_M = $(EXPECT) LD_PRELOAD=$(abspath $(LIB_MALLOC))

test-c: $(C_TESTS) $(BUILD)/rss_burst
	$(BUILD)/test_header_c && $(BUILD)/test_header_cpp && $(BUILD)/test_header_alone
	$(BUILD)/test_layout
	$(BUILD)/test_pool
	scripts/check_exit.sh $(BUILD) $(abspath $(LIB_SO)) $(abspath $(LIB_MALLOC)) "$(VALGRIND_RUN)"
	scripts/check_secure.sh $(BUILD)/test_exit_linked $(abspath $(LIB_SO)) scripts/zmqpool-run
	$(BUILD)/test_dlopen
	$(BUILD)/test_unload
	$(BUILD)/test_threads
	$(BUILD)/test_fork_malloc
	$(PRELOAD_M) timeout 300 $(BUILD)/test_fork_malloc
	$(BUILD)/test_oom
	LD_PRELOAD=$(abspath $(LIB_MALLOC)) $(BUILD)/test_oom
	@echo "--- memory that comes back by itself; statistics as JSON"
	$(BUILD)/test_decay
	@# Linked with libzmqpool.so and preloaded with the malloc variant: two
	@# copies of zmqpool; the preloaded one serves, the other stays idle.
	LD_PRELOAD=$(abspath $(LIB_MALLOC)) $(BUILD)/test_decay
	$(PRELOAD_M) $(BUILD)/test_send_linked
	ZMQPOOL_VERBOSE=1 LD_PRELOAD=$(abspath $(LIB_MALLOC)) $(BUILD)/test_decay --print-decay 2>&1 | grep -q "another copy of zmqpool .*libzmqpool-malloc.so"
	$(BUILD)/stats_workload | python3 c_tests/check_stats_json.py
	rm -f $(BUILD)/interval.jsonl
	ZMQPOOL_STATS_INTERVAL_MS=50 ZMQPOOL_STATS_FILE=$(BUILD)/interval.jsonl $(BUILD)/test_decay --idle 500
	python3 c_tests/check_stats_json.py --lines $(BUILD)/interval.jsonl 5
	ZMQPOOL_STATS_INTERVAL_MS=50 $(BUILD)/test_decay --idle 300 2>$(BUILD)/interval-stderr.jsonl
	python3 c_tests/check_stats_json.py --lines $(BUILD)/interval-stderr.jsonl 3
	scripts/check_rss.sh
	@echo "--- default caps that follow the process's memory limits (prlimit and a cgroup, on a child)"
	scripts/check_limits.sh $(BUILD) $(abspath $(LIB_SO)) $(abspath $(LIB_MALLOC))
	$(BUILD)/test_rlimit_ref
	$(PRELOAD) $(BUILD)/test_rlimit_ref
	$(PRELOAD_M) $(BUILD)/test_rlimit_ref
	@# After the burst, every byte taken (messages until ENOMEM, the heap until NULL) and freed.
	TEST_RLIMIT_EXHAUST=1 $(BUILD)/test_rlimit_ref
	TEST_RLIMIT_EXHAUST=1 $(PRELOAD) $(BUILD)/test_rlimit_ref
	TEST_RLIMIT_EXHAUST=1 $(PRELOAD_M) $(BUILD)/test_rlimit_ref
	@# The limit set after load, then zmqpool_trim() (the limits read again).
	TEST_RLIMIT_IN_PROCESS=1 TEST_RLIMIT_EXHAUST=1 $(PRELOAD) $(BUILD)/test_rlimit_ref
	TEST_RLIMIT_IN_PROCESS=1 TEST_RLIMIT_EXHAUST=1 $(PRELOAD_M) $(BUILD)/test_rlimit_ref
	@# Decay off and caps that hold the whole burst: only the malloc variant's
	@# give-back on a failed malloc makes room (libzmqpool.so must fail: glibc's
	@# malloc cannot ask the pool for it).
	for call in malloc calloc realloc posix_memalign aligned_alloc; do \
	  ZMQPOOL_DECAY_MS=0 ZMQPOOL_MAX_CACHED_BYTES=4G ZMQPOOL_MAX_THREAD_CACHED_BYTES=4G TEST_RLIMIT_SIZE=262144 \
	    TEST_RLIMIT_CALL=$$call $(PRELOAD_M) $(BUILD)/test_rlimit_ref || exit 1; done
	@ZMQPOOL_DECAY_MS=0 ZMQPOOL_MAX_CACHED_BYTES=4G ZMQPOOL_MAX_THREAD_CACHED_BYTES=4G TEST_RLIMIT_SIZE=262144 \
	  $(PRELOAD) $(BUILD)/test_rlimit_ref >$(BUILD)/rlimit-held.txt 2>&1 || true
	@grep -q "malloc(1648 MiB) after the burst: NULL" $(BUILD)/rlimit-held.txt || \
	  { cat $(BUILD)/rlimit-held.txt; echo "the pool held the burst, yet glibc's malloc found room (or the run failed elsewhere)"; exit 1; }; \
	  echo "ok: libzmqpool.so holding the burst leaves glibc's malloc no room"
	@# The same after the program's own zmqpool_trim(): address space comes back.
	ZMQPOOL_DECAY_MS=0 ZMQPOOL_MAX_CACHED_BYTES=4G ZMQPOOL_MAX_THREAD_CACHED_BYTES=4G TEST_RLIMIT_SIZE=262144 TEST_RLIMIT_TRIM=1 \
	  $(PRELOAD) $(BUILD)/test_rlimit_ref
	$(BUILD)/test_passthrough
	$(BUILD)/test_passthrough_432
	$(BUILD)/test_ctor_ref
	$(EXPECT) $(BUILD)/test_ctor_linked
	$(PRELOAD) $(BUILD)/test_ctor_ref
	$(PRELOAD_M) $(BUILD)/test_ctor_ref
	$(BUILD)/test_zmtp
	$(BUILD)/test_local_scope $(BUILD)/bundled/libzmq-bundled.so
	$(BUILD)/test_two_libzmq $(BUILD)/bundled/libzmq-bundled.so
	ZMQPOOL_VERBOSE=1 $(BUILD)/test_two_libzmq $(BUILD)/bundled/libzmq-bundled.so 2>&1 | grep -q "found libzmq .* after load"
	$(BUILD)/test_two_at_load $(abspath $(BUILD)/bundled/libzmq-bundled.so)
	$(BUILD)/test_many_objects_linked $(BUILD)/many $(abspath $(BUILD)/bundled/libzmq-bundled.so) 0 $(MANY_OBJECTS)
	$(PRELOAD) $(BUILD)/test_many_objects_plain $(BUILD)/many $(abspath $(BUILD)/bundled/libzmq-bundled.so) 0 $(MANY_OBJECTS)
	$(PRELOAD_M) $(BUILD)/test_many_objects_plain $(BUILD)/many $(abspath $(BUILD)/bundled/libzmq-bundled.so) 0 $(MANY_OBJECTS)
	mkdir -p $(LONG_DIR) && cp $(BUILD)/bundled/libzmq-bundled.so $(LONG_DIR)/libzmq-long.so
	$(BUILD)/test_many_objects_linked $(BUILD)/many $(abspath $(LONG_DIR))/libzmq-long.so 0 3
	$(PRELOAD) $(BUILD)/test_many_objects_plain $(BUILD)/many $(abspath $(LONG_DIR))/libzmq-long.so 15 17
	@echo "--- without zmqpool the same program fails"
	@! $(BUILD)/test_many_objects_plain $(BUILD)/many $(abspath $(BUILD)/bundled/libzmq-bundled.so) 0 0 >/dev/null 2>&1 || \
	  { echo "test_many_objects passed without zmqpool"; exit 1; }; echo "ok: it fails"
	ZMQPOOL_VERBOSE=1 $(BUILD)/test_two_at_load $(abspath $(BUILD)/bundled/libzmq-bundled.so) 2>$(BUILD)/two-at-load.txt >/dev/null
	grep -q "2 copies of libzmq" $(BUILD)/two-at-load.txt
	! grep -q "after load" $(BUILD)/two-at-load.txt
	$(BUILD)/test_msg_ref
	$(EXPECT) $(BUILD)/test_msg_linked
	$(PRELOAD) $(BUILD)/test_msg_ref
	$(BUILD)/test_sockets_ref
	$(EXPECT) $(BUILD)/test_sockets_linked
	ZMQPOOL_SHOW_STATS=1 $(PRELOAD) $(BUILD)/test_sockets_ref 2>$(BUILD)/sockets-stats.txt
	@# The statistics printed at exit: every pooled block came back.
	grep -E '^  pooled +[1-9]' $(BUILD)/sockets-stats.txt
	grep -E '^  bytes in use +0$$' $(BUILD)/sockets-stats.txt
	ZMQPOOL_SHOW_STATS=json $(PRELOAD) $(BUILD)/test_sockets_ref 2>$(BUILD)/sockets-stats.json
	python3 c_tests/check_stats_json.py --exit-object $(BUILD)/sockets-stats.json
	$(BUILD)/test_soak_ref
	$(EXPECT) $(BUILD)/test_soak_linked
	$(PRELOAD) $(BUILD)/test_soak_ref
	@echo "--- zmq_send and real clients (cppzmq, czmq): libzmq alone, linked, preloaded"
	$(BUILD)/test_send_ref
	$(EXPECT) $(BUILD)/test_send_linked
	$(PRELOAD) $(BUILD)/test_send_ref
	$(PRELOAD_M) $(BUILD)/test_send_ref
	$(BUILD)/test_cppzmq_ref
	$(EXPECT) $(BUILD)/test_cppzmq_linked
	$(PRELOAD) $(BUILD)/test_cppzmq_ref
	$(PRELOAD_M) $(BUILD)/test_cppzmq_ref
	$(BUILD)/test_czmq_ref
	$(EXPECT) $(BUILD)/test_czmq_linked
	$(PRELOAD) $(BUILD)/test_czmq_ref
	$(PRELOAD_M) $(BUILD)/test_czmq_ref
	@echo "--- a run where zmqpool is not in use fails (mistyped preload path: exit 3)"
	@rc=0; ZMQPOOL_TEST_EXPECT=1 LD_PRELOAD=$(abspath $(BUILD))/no-such-libzmqpool.so \
	  $(BUILD)/test_send_ref >/dev/null 2>&1 || rc=$$?; \
	  test $$rc -eq 3 || { echo "expected exit 3 from a run without zmqpool, got $$rc"; exit 1; }; echo "ok: exit 3"
	@echo "--- libzmqpool-malloc.so: malloc and messages from one preload"
	$(BUILD)/test_malloc
	LD_PRELOAD=$(abspath $(LIB_MALLOC)) $(BUILD)/test_malloc
	$(PRELOAD_M) $(BUILD)/test_msg_ref
	$(PRELOAD_M) $(BUILD)/test_sockets_ref
	$(PRELOAD_M) $(BUILD)/test_soak_ref
	@echo "--- preloaded into programs with no libzmq: nothing changes"
	test "$$(LD_PRELOAD=$(abspath $(LIB_SO)) sh -c 'echo hello | tr a-z A-Z')" = HELLO
	ZMQPOOL_VERBOSE=1 LD_PRELOAD=$(abspath $(LIB_SO)) /bin/true 2>&1 | grep -q "no libzmq loaded yet"
	@echo "--- the same under valgrind (zmqpool's blocks from glibc malloc, so valgrind sees them)"
	ZMQPOOL_BACKEND=system $(VALGRIND_RUN) $(BUILD)/test_layout
	ZMQPOOL_TEST_NO_FORK=1 $(VALGRIND_RUN) $(BUILD)/test_pool
	$(VALGRIND_RUN) $(BUILD)/test_msg_ref
	ZMQPOOL_BACKEND=system $(EXPECT) $(VALGRIND_RUN) $(BUILD)/test_msg_linked
	ZMQPOOL_BACKEND=system $(VALGRIND_RUN) --trace-children=yes env $(PRELOAD) $(BUILD)/test_msg_ref
	$(EXPECT) $(VALGRIND_RUN) $(BUILD)/test_msg_linked
	ZMQPOOL_BACKEND=system $(EXPECT) $(VALGRIND_RUN) $(BUILD)/test_sockets_linked
	ZMQPOOL_BACKEND=system ZMQPOOL_TEST_SKIP_HUGE=1 $(EXPECT) $(VALGRIND_RUN) $(BUILD)/test_send_linked
	ZMQPOOL_BACKEND=system $(EXPECT) $(VALGRIND_RUN) $(BUILD)/test_czmq_linked
	$(VALGRIND_RUN) $(BUILD)/test_passthrough
	ZMQPOOL_BACKEND=system $(VALGRIND_RUN) $(BUILD)/test_zmtp
	ZMQPOOL_BACKEND=system $(EXPECT) $(VALGRIND_RUN) $(BUILD)/test_ctor_linked
	SOAK_SECONDS=1 ZMQPOOL_BACKEND=system $(EXPECT) $(VALGRIND_RUN) $(BUILD)/test_soak_linked
	ZMQPOOL_BACKEND=system $(VALGRIND_RUN) $(BUILD)/test_local_scope $(BUILD)/bundled/libzmq-bundled.so
	@echo "--- exported symbols are only zmq_msg_*, zmq_send and zmqpool_*"
	@bad=$$(nm -D --defined-only $(LIB_SO) | awk '{print $$3}' | grep -v -E '^(zmq_msg_|zmqpool_|zmq_send$$)' || true); \
	  if [ -n "$$bad" ]; then echo "unexpected exports:"; echo "$$bad"; exit 1; fi; \
	  if nm -D --defined-only $(LIB_SO) | grep -q -E ' (zmq_msg_send|zmq_msg_recv|zmq_recv|zmq_sendmsg|malloc|free)$$'; then echo "socket or malloc functions exported"; exit 1; fi; \
	  nm -D --defined-only $(LIB_SO) | grep -q ' zmq_send$$' || { echo "zmq_send is not exported"; exit 1; }; \
	  echo "exports ok: $$(nm -D --defined-only $(LIB_SO) | wc -l) symbols"
	@bad=$$(nm -D --defined-only $(LIB_MALLOC) | awk '{print $$3}' | grep -v -E '^(zmq_msg_|zmqpool_|zmq_send$$)' \
	  | grep -v -x -E 'malloc|calloc|realloc|reallocarray|free|cfree|posix_memalign|aligned_alloc|memalign|valloc|pvalloc|malloc_usable_size' || true); \
	  if [ -n "$$bad" ]; then echo "unexpected exports in libzmqpool-malloc.so:"; echo "$$bad"; exit 1; fi; \
	  nm -D --defined-only $(LIB_MALLOC) | grep -q ' malloc$$' || { echo "libzmqpool-malloc.so does not export malloc"; exit 1; }; \
	  echo "libzmqpool-malloc.so exports ok"
	@echo "--- static TLS: one 8-byte initial-exec slot; the module's TLS block small enough for glibc's surplus"
	@readelf -d $(LIB_SO) | grep -q STATIC_TLS || { echo "libzmqpool.so lost its initial-exec slot"; exit 1; }
	@tls=$$(( $$(readelf -lW $(LIB_SO) | awk '$$1 == "TLS" { print $$6 }') )); \
	  [ "$$tls" -le 128 ] || { echo "libzmqpool.so has $$tls bytes of TLS: over 128"; exit 1; }; echo "tls ok: $$tls bytes"
	@echo "--- the fallback build (cargo feature no-static-tls): no static TLS, late dlopen"
	$(CARGO) rustc --release --locked --lib --crate-type cdylib --features no-static-tls --target-dir target/no-static-tls $(SO_LINK)
	@if readelf -d target/no-static-tls/release/libzmqpool.so | grep -q STATIC_TLS; then echo "the no-static-tls build needs static TLS"; exit 1; fi
	ZMQPOOL_DLOPEN_PATH=$(abspath target/no-static-tls/release/libzmqpool.so) $(BUILD)/test_dlopen
	@LD_LIBRARY_PATH=$(abspath target/no-static-tls/release) ldd $(BUILD)/test_threads | grep -q 'no-static-tls/release/libzmqpool.so' || \
	  { echo "test_threads would not load the no-static-tls build"; exit 1; }
	LD_LIBRARY_PATH=$(abspath target/no-static-tls/release) $(BUILD)/test_threads
	LD_LIBRARY_PATH=$(abspath target/no-static-tls/release) $(BUILD)/test_pool
	@echo "--- never unmapped: live messages name its release functions (-z nodelete)"
	@for lib in $(LIB_SO) $(LIB_MALLOC); do readelf -d $$lib | grep -q 'Flags:.*NODELETE' || { echo "$$lib lacks NODELETE"; exit 1; }; done; echo "nodelete ok"

# Miri over the message layer and the codec's unit tests (not the
# proptests: hours under Miri). Needs nightly with the miri component.
miri:
	MIRIFLAGS=-Zmiri-disable-isolation $(CARGO) +nightly miri test --lib -- \
	  msg:: zmtp:: --skip any_messages_at_any_split_round_trip

# Installs into a scratch prefix and builds a program from the installed
# header and pkg-config file, against the shared and the static library.
test-install: all $(BUILD)/test_send_ref $(BUILD)/test_czmq_ref | $(BUILD)
	rm -rf $(BUILD)/prefix
	$(MAKE) --no-print-directory install PREFIX=$(abspath $(BUILD)/prefix) >/dev/null
	PKG_CONFIG_PATH=$(BUILD)/prefix/lib/pkgconfig; export PKG_CONFIG_PATH; \
	  $(CC) $(CWARN) -std=c99 -o $(BUILD)/installed_shared c_tests/test_header.c \
	    $$(pkg-config --cflags zmqpool) $$(pkg-config --libs zmqpool libzmq) -Wl,-rpath,$(abspath $(BUILD)/prefix/lib) && \
	  $(CC) $(CWARN) -std=c99 -o $(BUILD)/installed_static c_tests/test_header.c \
	    $$(pkg-config --cflags zmqpool) $(BUILD)/prefix/lib/libzmqpool.a \
	    $$(pkg-config --static --libs-only-l zmqpool | sed 's/-lzmqpool//') $$(pkg-config --libs libzmq)
	$(BUILD)/installed_shared
	$(BUILD)/installed_static
	@echo "--- zmqpool-run, installed: finds its library, keeps LD_PRELOAD, runs C and Python programs"
	test "$$($(BUILD)/prefix/bin/zmqpool-run sh -c 'echo "$$LD_PRELOAD"')" = "$(abspath $(BUILD)/prefix/lib)/libzmqpool.so"
	test "$$(LD_PRELOAD=libpthread.so.0 $(BUILD)/prefix/bin/zmqpool-run --malloc -- sh -c 'echo "$$LD_PRELOAD"')" \
	  = "$(abspath $(BUILD)/prefix/lib)/libzmqpool-malloc.so libpthread.so.0"
	ZMQPOOL_TEST_EXPECT=1 $(BUILD)/prefix/bin/zmqpool-run $(BUILD)/test_send_ref
	ZMQPOOL_TEST_EXPECT=1 $(BUILD)/prefix/bin/zmqpool-run --malloc $(BUILD)/test_czmq_ref
	$(BUILD)/prefix/bin/zmqpool-run --stats python3 c_tests/send_ctypes.py --expect-zmqpool 2>$(BUILD)/run-stats.txt
	grep -E '^  zmq_send +[1-9]' $(BUILD)/run-stats.txt
	$(BUILD)/prefix/bin/zmqpool-run --verbose true 2>&1 | grep -q "zmqpool .*loaded into pid"
	@mkdir -p $(BUILD)/alone/bin && cp scripts/zmqpool-run $(BUILD)/alone/bin/; rc=0; \
	  ZMQPOOL_LIBDIR= $(BUILD)/alone/bin/zmqpool-run true 2>/dev/null || rc=$$?; rm -rf $(BUILD)/alone; \
	  test $$rc -eq 127 || { echo "zmqpool-run without its library: expected exit 127, got $$rc"; exit 1; }; \
	  echo "ok: zmqpool-run without its library exits 127"

# libzmq's own test suite, from Debian's source package, built as Debian
# builds it and with drafts, run plain and under both preloads (about 15
# minutes on 2 cores the first time; builds are cached in build/libzmq).
check-libzmq: lib
	bash scripts/check_libzmq.sh

# What CI runs of it (in `make test`): the drafts build (a superset of
# Debian's API) and the tests covering messages, every socket type, every
# transport, devices and security handshakes.
LIBZMQ_CI_TESTS := test_msg_flags test_msg_ffn test_msg_init test_iov test_metadata test_app_meta \
	test_srcfd test_hello_msg test_disconnect_msg test_socket_null \
	test_pair_inproc test_pair_ipc test_pair_tcp test_reqrep_inproc test_reqrep_ipc test_reqrep_tcp \
	test_spec_pushpull test_spec_dealer test_spec_router test_spec_rep test_spec_req \
	test_sub_forward test_xpub_nodrop test_xpub_manual test_stream test_router_mandatory test_conflate \
	test_client_server test_radio_dish test_scatter_gather test_peer test_channel test_dgram \
	test_ws_transport test_abstract_ipc test_proxy test_reqrep_device test_thread_safe \
	test_security_null test_security_plain test_security_zap
check-libzmq-ci: lib
	LIBZMQ_CONFIGS=drafts LIBZMQ_TESTS="$(LIBZMQ_CI_TESTS)" bash scripts/check_libzmq.sh

test: test-rust lint check-header test-c test-install check-pyzmq check-libzmq-ci
	@echo "all tests passed"

# ---- demo -------------------------------------------------------------------
$(BUILD)/throughput: demo/throughput.c | $(BUILD)
	$(CC) $(CFLAGS) $(CWARN) -std=gnu99 -o $@ $< $(ZMQ_LIBS) -lpthread

demo: all $(BUILD)/throughput
	demo/run.sh

# Installs what a fresh Debian machine lacks (libzmq3-dev, valgrind, cbindgen...).
setup:
	bash scripts/setup.sh

# ---- install ----------------------------------------------------------------
install: all
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(BINDIR)
	sed -e "s|^libdir_from_here=.*|libdir_from_here=$$(realpath -m --relative-to=$(BINDIR) $(LIBDIR))|" \
	    scripts/zmqpool-run > $(DESTDIR)$(BINDIR)/zmqpool-run
	chmod 755 $(DESTDIR)$(BINDIR)/zmqpool-run
	install -m 755 $(LIB_SO) $(DESTDIR)$(LIBDIR)/libzmqpool.so
	install -m 644 $(LIB_A) $(DESTDIR)$(LIBDIR)/libzmqpool.a
	install -m 755 $(LIB_MALLOC) $(DESTDIR)$(LIBDIR)/libzmqpool-malloc.so
	install -m 644 $(HEADER) $(DESTDIR)$(INCLUDEDIR)/zmqpool.h
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' \
	    -e "s|@VERSION@|$$(sed -n 's/^version = \"\(.*\)\"/\1/p' Cargo.toml | head -1)|g" \
	    zmqpool.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/zmqpool.pc

clean:
	$(CARGO) clean
	rm -rf $(BUILD)

# ---- benchmarks ---------------------------------------------------------------
# Baselines need Debian's libmimalloc2.0 and libjemalloc2 (make setup-bench).
$(BUILD)/msg_bench: benches/msg_bench.c benches/pmr_baseline.cpp $(HEADER) $(LIB_SO) | $(BUILD)
	$(CXX) -O2 -g -std=c++17 -c -o $(BUILD)/pmr_baseline.o benches/pmr_baseline.cpp
	$(CC) -O2 -g $(CWARN) -std=gnu11 -Iinclude -c -o $(BUILD)/msg_bench.o benches/msg_bench.c
	$(CXX) -o $@ $(BUILD)/msg_bench.o $(BUILD)/pmr_baseline.o -L$(RELEASE) -Wl,-rpath,$(abspath $(RELEASE)) -lzmqpool -ldl -lpthread

setup-bench:
	bash scripts/setup.sh --bench

$(BUILD)/latency: demo/latency.c | $(BUILD)
	$(CC) $(CFLAGS) $(CWARN) -std=gnu99 -o $@ $< $(ZMQ_LIBS) -lpthread

# End to end through libzmq: 3 transports x 7 sizes x 5 configurations,
# throughput and latency (about 10 minutes; RUNS=3 halves it).
bench-e2e: all $(BUILD)/throughput $(BUILD)/latency
	benches/run_e2e.sh

# Inproc throughput against message size, steady state, pinned, against the
# no-allocation floor (32-byte messages) of the same run (make setup-bench
# first; about 10 minutes).
bench-size: all $(BUILD)/throughput
	benches/run_size.sh

$(BUILD)/rss_burst: benches/rss_burst.c | $(BUILD)
	$(CC) $(CFLAGS) $(CWARN) -std=gnu99 -o $@ $< $(ZMQ_LIBS)

# Resident memory after a burst of 20,000 x 64 KiB, then idle or a trickle,
# for plain libzmq, both zmqpool libraries with decay on and off, mimalloc
# and jemalloc (about 5 minutes; make setup-bench first).
bench-rss: all $(BUILD)/rss_burst
	benches/run_rss.sh

# ZMTP encode/decode throughput against memcpy of the same bytes.
bench-zmtp:
	$(CARGO) bench --locked --bench zmtp

# pyzmq from PyPI (pinned; into build/venv), with its bundled libzmq in a
# local scope: plain, then under both preloads through zmqpool-run.
PYZMQ_VERSION := 27.3.0
check-pyzmq: all $(BUILD)/many/object-$(MANY_OBJECTS).so
	test -x $(BUILD)/venv/bin/python || python3 -m venv $(BUILD)/venv
	$(BUILD)/venv/bin/pip install -q pyzmq==$(PYZMQ_VERSION)
	$(BUILD)/venv/bin/python scripts/pyzmq_check.py
	scripts/zmqpool-run --stats $(BUILD)/venv/bin/python scripts/pyzmq_check.py --expect-zmqpool
	scripts/zmqpool-run --malloc $(BUILD)/venv/bin/python scripts/pyzmq_check.py --expect-zmqpool
	@# K = 0..35 objects loaded with ctypes before `import zmq`, each K a fresh interpreter.
	scripts/zmqpool-run $(BUILD)/venv/bin/python scripts/pyzmq_many_objects.py $(BUILD)/many 0 35
	@! $(BUILD)/venv/bin/python scripts/pyzmq_many_objects.py $(BUILD)/many 0 0 >/dev/null 2>&1 || \
	  { echo "pyzmq_many_objects passed without zmqpool"; exit 1; }; echo "ok: it fails without zmqpool"

# ---- fuzzing ------------------------------------------------------------------
# The decoder under libFuzzer with AddressSanitizer/LeakSanitizer (needs a
# nightly toolchain and cargo-fuzz: make setup-fuzz). New inputs join
# fuzz/corpus/decoder, which `cargo test` replays on every run (CI too).
FUZZ_SECONDS ?= 60
setup-fuzz:
	rustup toolchain list | grep -q nightly || rustup toolchain install nightly --profile minimal
	cargo fuzz --version >/dev/null 2>&1 || cargo install cargo-fuzz --locked

fuzz:
	cargo +nightly fuzz run decoder fuzz/corpus/decoder -- -max_total_time=$(FUZZ_SECONDS) -max_len=70000
	cargo +nightly fuzz cmin decoder fuzz/corpus/decoder

# The C benchmark: ratios against baselines measured in the same run.
# Decay on vs off (and OTHER_LIB=DIR: another build), interleaved: the
# fast path's cost of memory that comes back (about 2 minutes).
bench-decay: all $(BUILD)/msg_bench $(BUILD)/throughput
	benches/run_decay_overhead.sh

bench: all $(BUILD)/msg_bench
	benches/run_msg_bench.sh
