// cppzmq (Debian's cppzmq-dev, header-only) on top of zmqpool: message_t
// sends and receives, send(zmq::buffer(...)) (zmq_send underneath),
// send_multipart / recv_multipart, over inproc and tcp. Every byte is
// checked; where zmqpool serves the process (linked or preloaded) its
// counters must show that the messages were really pooled.
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include <cerrno>
#include <string>
#include <vector>

extern "C" {
#include "harness.h"
#include "zmqpool_probe.h"
}

static zmq::context_t *context;
static int with_zmqpool;
static const char *const transports[] = {"inproc", "tcp"};

static std::string bind_any (zmq::socket_t &socket, const char *transport,
                             const char *name)
{
    if (std::string (transport) == "inproc")
        socket.bind (std::string ("inproc://") + name);
    else
        socket.bind ("tcp://127.0.0.1:*");
    return socket.get (zmq::sockopt::last_endpoint);
}

static std::string pattern (size_t size, unsigned seed)
{
    std::string bytes (size, '\0');
    for (size_t i = 0; i < size; i++)
        bytes[i] = static_cast<char> (seed * 31u + i * 3u);
    return bytes;
}

static zmqpool_stats_t stats ()
{
    zmqpool_stats_t out;
    probe_stats (&out);
    return out;
}

static const size_t sizes[] = {0, 20, 34, 1000, 70000, 300000};
static const size_t pooled_sizes = 4; // over 33 bytes

static void message_t_sends_and_receives_every_byte ()
{
    for (const char *transport : transports) {
        zmq::socket_t pull (*context, zmq::socket_type::pull);
        zmq::socket_t push (*context, zmq::socket_type::push);
        push.set (zmq::sockopt::linger, 0);
        std::string endpoint = bind_any (pull, transport, "cpp-message");
        push.connect (endpoint);
        zmqpool_stats_t before = stats ();
        unsigned seed = 0;
        for (size_t size : sizes) {
            std::string body = pattern (size, seed++);
            zmq::message_t msg (body.data (), body.size ());
            zmq::send_result_t sent = push.send (msg, zmq::send_flags::none);
            CHECK (sent.has_value () && *sent == size);
        }
        zmqpool_stats_t after = stats ();
        if (with_zmqpool)
            CHECK_EQ_INT (after.messages_pooled - before.messages_pooled,
                          pooled_sizes);
        seed = 0;
        for (size_t size : sizes) {
            zmq::message_t msg;
            zmq::recv_result_t got = pull.recv (msg, zmq::recv_flags::none);
            CHECK (got.has_value () && *got == size);
            CHECK (msg.to_string () == pattern (size, seed++));
        }
    }
}

static void send_of_a_buffer_goes_through_zmq_send ()
{
    for (const char *transport : transports) {
        zmq::socket_t pull (*context, zmq::socket_type::pull);
        zmq::socket_t push (*context, zmq::socket_type::push);
        push.set (zmq::sockopt::linger, 0);
        std::string endpoint = bind_any (pull, transport, "cpp-buffer");
        push.connect (endpoint);
        zmqpool_stats_t before = stats ();
        unsigned seed = 0;
        for (size_t size : sizes) {
            std::string body = pattern (size, seed++);
            zmq::send_result_t sent =
              push.send (zmq::buffer (body), zmq::send_flags::none);
            CHECK (sent.has_value () && *sent == size);
        }
        zmqpool_stats_t after = stats ();
        if (with_zmqpool) {
            CHECK_EQ_INT (after.sends - before.sends, sizeof sizes / sizeof sizes[0]);
            CHECK_EQ_INT (after.messages_pooled - before.messages_pooled,
                          pooled_sizes);
        }
        seed = 0;
        for (size_t size : sizes) {
            // recv into a caller buffer is zmq_recv: it truncates.
            std::vector<char> into (size + 1);
            zmq::recv_buffer_result_t got =
              pull.recv (zmq::buffer (into), zmq::recv_flags::none);
            CHECK (got.has_value () && got->size == size && !got->truncated ());
            CHECK (std::string (into.data (), size) == pattern (size, seed++));
        }
    }
}

static void multipart_round_trips_part_for_part ()
{
    for (const char *transport : transports) {
        zmq::socket_t router (*context, zmq::socket_type::router);
        zmq::socket_t dealer (*context, zmq::socket_type::dealer);
        dealer.set (zmq::sockopt::linger, 0);
        router.set (zmq::sockopt::linger, 0);
        dealer.set (zmq::sockopt::routing_id, "cpp-dealer");
        std::string endpoint = bind_any (router, transport, "cpp-multipart");
        dealer.connect (endpoint);
        zmqpool_stats_t before = stats ();
        {
            std::vector<zmq::message_t> parts;
            unsigned seed = 0;
            for (size_t size : sizes) {
                std::string body = pattern (size, seed++);
                parts.emplace_back (body.data (), body.size ());
            }
            zmq::send_result_t sent = zmq::send_multipart (dealer, parts);
            CHECK (sent.has_value () && *sent == parts.size ());
            std::vector<zmq::message_t> got;
            zmq::recv_result_t count =
              zmq::recv_multipart (router, std::back_inserter (got));
            CHECK (count.has_value () && *count == parts.size () + 1);
            CHECK (got[0].to_string () == "cpp-dealer");
            seed = 0;
            for (size_t i = 0; i < parts.size (); i++)
                CHECK (got[i + 1].to_string () == pattern (sizes[i], seed++));
            // Back again: the received parts (libzmq's over tcp, zmqpool's
            // over inproc) are sent on as they are.
            CHECK (zmq::send_multipart (router, got).has_value ());
            std::vector<zmq::message_t> echoed;
            count = zmq::recv_multipart (dealer, std::back_inserter (echoed));
            CHECK (count.has_value () && *count == parts.size ());
            seed = 0;
            for (size_t i = 0; i < parts.size (); i++)
                CHECK (echoed[i].to_string () == pattern (sizes[i], seed++));
        }
        zmqpool_stats_t after = stats ();
        if (with_zmqpool) {
            // The parts built here were pooled, and every one came back.
            CHECK_EQ_INT (after.messages_pooled - before.messages_pooled,
                          pooled_sizes);
            CHECK_EQ_INT (after.bytes_in_use, before.bytes_in_use);
        }
    }
}

int main ()
{
    probe_require_zmqpool_if_expected ("test_cppzmq");
    with_zmqpool = probe_zmqpool_in_use ();
    printf ("test_cppzmq: messages from %s\n",
            with_zmqpool ? "zmqpool" : "libzmq");
    zmq::context_t own;
    context = &own;
    RUN (message_t_sends_and_receives_every_byte);
    RUN (send_of_a_buffer_goes_through_zmq_send);
    RUN (multipart_round_trips_part_for_part);
    return harness_finish ("test_cppzmq");
}
