// The design zmqpool replaces, as a baseline: a thread-local
// std::pmr::unsynchronized_pool_resource over mimalloc, with a size header
// so release needs no size. Valid only when a block is released on the
// thread that allocated it, which is why the benchmarks use it only for
// same-thread figures.
#include <cstddef>
#include <cstring>
#include <memory_resource>

namespace {

void *(*upstream_alloc) (std::size_t) = nullptr;
void (*upstream_free) (void *) = nullptr;

class mimalloc_resource final : public std::pmr::memory_resource
{
    void *do_allocate (std::size_t bytes, std::size_t) override
    {
        void *p = upstream_alloc (bytes);
        if (!p)
            throw std::bad_alloc ();
        return p;
    }
    void do_deallocate (void *p, std::size_t, std::size_t) override
    {
        upstream_free (p);
    }
    bool do_is_equal (const std::pmr::memory_resource &other) const
      noexcept override
    {
        return this == &other;
    }
};

std::pmr::unsynchronized_pool_resource &pool ()
{
    static thread_local mimalloc_resource upstream;
    static thread_local std::pmr::unsynchronized_pool_resource resource (
      std::pmr::pool_options{0, 512 * 1024}, &upstream);
    return resource;
}

constexpr std::size_t header = 16;

} // namespace

extern "C" void pmr_set_upstream (void *(*alloc) (std::size_t),
                                  void (*release) (void *))
{
    upstream_alloc = alloc;
    upstream_free = release;
}

extern "C" void *pmr_alloc (std::size_t size)
{
    auto *base = static_cast<unsigned char *> (pool ().allocate (size + header, 16));
    std::memcpy (base, &size, sizeof size);
    return base + header;
}

extern "C" void pmr_free (void *ptr)
{
    auto *base = static_cast<unsigned char *> (ptr) - header;
    std::size_t size;
    std::memcpy (&size, base, sizeof size);
    pool ().deallocate (base, size + header, 16);
}
