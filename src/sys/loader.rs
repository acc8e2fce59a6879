//! The dynamic loader, without allocating: which loaded object holds an
//! address (one `dladdr` wrapper), and a walk over every loaded object.

use core::ffi::{c_int, c_void, CStr};

/// Longest object path the walk reports (longer ones are skipped).
pub(crate) const NAME_BYTES: usize = 256;

/// dladdr's answer for `address`: the object holding it, if any.
pub(crate) fn object_of(address: *const c_void) -> Option<libc::Dl_info> {
    let mut info = core::mem::MaybeUninit::<libc::Dl_info>::zeroed();
    // SAFETY: dladdr accepts any address and only writes `info`.
    let found = unsafe { libc::dladdr(address, info.as_mut_ptr()) };
    // SAFETY: zero-initialised, then possibly filled by dladdr: every
    // field is a pointer or an integer, valid as zero and as dladdr writes it.
    (found != 0).then(|| unsafe { info.assume_init() })
}

/// The load address of the object holding `address` (None: no object).
pub(crate) fn base_of(address: *const c_void) -> Option<usize> {
    object_of(address).map(|info| info.dli_fbase as usize)
}

/// The load address of zmqpool's own object (0 if the loader cannot tell).
pub(crate) fn own_base() -> usize {
    base_of(own_base as *const c_void).unwrap_or(0)
}

/// True if `symbol` lies in the object that holds zmqpool's own code.
pub(crate) fn is_own(symbol: *const c_void) -> bool {
    let ours = base_of(own_base as *const c_void);
    ours.is_some() && ours == base_of(symbol)
}

/// Objects the search looks at per pass over the loader's list.
const CHUNK: usize = 16;

struct Chunk {
    skip: usize,
    seen: usize,
    names: [[u8; NAME_BYTES]; CHUNK],
    ranges: [(usize, usize); CHUNK],
    count: usize,
    own_base: usize,
}

/// Calls `visit` with the path and mapped range of every loaded object but
/// zmqpool's own, until it returns true. The loader's list is walked in
/// chunks copied into fixed storage (the loader must not be re-entered from
/// inside `dl_iterate_phdr`); paths longer than 255 bytes are skipped.
pub(crate) fn for_each_object(mut visit: impl FnMut(&CStr, (usize, usize)) -> bool) {
    unsafe extern "C" fn collect(
        info: *mut libc::dl_phdr_info,
        _size: usize,
        data: *mut c_void,
    ) -> c_int {
        // SAFETY: dl_iterate_phdr passes a valid record and our `data`, a
        // live Chunk owned by the caller; the callback only reads the
        // record and writes the chunk.
        unsafe {
            let chunk = &mut *(data as *mut Chunk);
            let info = &*info;
            let index = chunk.seen;
            chunk.seen += 1;
            if index < chunk.skip || info.dlpi_addr as usize == chunk.own_base {
                return 0;
            }
            if chunk.count == CHUNK {
                return 1;
            }
            let name = info.dlpi_name;
            if name.is_null() || *name == 0 {
                return 0;
            }
            let name = CStr::from_ptr(name).to_bytes_with_nul();
            if name.len() > NAME_BYTES {
                return 0;
            }
            let (mut start, mut end) = (usize::MAX, 0);
            for segment in 0..usize::from(info.dlpi_phnum) {
                let header = &*info.dlpi_phdr.add(segment);
                if header.p_type == libc::PT_LOAD {
                    let at = info.dlpi_addr as usize + header.p_vaddr as usize;
                    start = start.min(at);
                    end = end.max(at + header.p_memsz as usize);
                }
            }
            chunk.names[chunk.count][..name.len()].copy_from_slice(name);
            chunk.ranges[chunk.count] = (start, end);
            chunk.count += 1;
        }
        0
    }
    let own_base = own_base();
    let mut skip = 0;
    loop {
        let mut chunk = Chunk {
            skip,
            seen: 0,
            names: [[0; NAME_BYTES]; CHUNK],
            ranges: [(0, 0); CHUNK],
            count: 0,
            own_base,
        };
        // SAFETY: the callback above only reads the record and fills the
        // chunk; it calls no loader function.
        unsafe { libc::dl_iterate_phdr(Some(collect), &mut chunk as *mut Chunk as *mut c_void) };
        for index in 0..chunk.count {
            let Ok(name) = CStr::from_bytes_until_nul(&chunk.names[index]) else {
                continue;
            };
            if visit(name, chunk.ranges[index]) {
                return;
            }
        }
        if chunk.count < CHUNK {
            return;
        }
        skip = chunk.seen;
    }
}
