//! The dynamic loader, without allocating: which loaded object holds an
//! address (one `dladdr` wrapper), and a walk over every loaded object.

use core::ffi::{c_int, c_void, CStr};

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

/// One loaded object, as a pass over the loader's list reports it.
pub(crate) struct Object<'a> {
    /// The path the loader knows it by (empty for the program itself).
    pub name: &'a CStr,
    /// Its load address (`dlpi_addr`).
    pub base: usize,
    /// The span of its loaded segments: code and data.
    pub range: (usize, usize),
    /// The loader's counts of objects ever loaded and unloaded
    /// (`dlpi_adds`, `dlpi_subs`): they differ between two passes exactly
    /// when the list changed in between.
    pub changes: (u64, u64),
}

/// The list of loaded objects, read one pass at a time: the loader's own
/// (`dl_iterate_phdr`), or a list a test makes.
pub(crate) trait ObjectList {
    /// Calls `each` on every object in list order until it returns true.
    ///
    /// # Safety
    /// `each` runs while the loader holds its lock and walks its list: it
    /// must not call into the loader (no `dlopen`, `dlclose`, `dlsym`,
    /// `dladdr`), which could change the list under the walk.
    unsafe fn pass(&self, each: &mut dyn FnMut(&Object<'_>) -> bool);
}

/// The process's objects, through `dl_iterate_phdr`.
struct Loaded;

impl ObjectList for Loaded {
    unsafe fn pass(&self, each: &mut dyn FnMut(&Object<'_>) -> bool) {
        unsafe extern "C" fn call(
            info: *mut libc::dl_phdr_info,
            size: usize,
            data: *mut c_void,
        ) -> c_int {
            // SAFETY: dl_iterate_phdr passes a record valid for this call
            // and our `data`, the `&mut dyn FnMut` below, alive for the
            // whole iteration; the counters are read only when `size` says
            // the record has them (glibc >= 2.4 always does).
            unsafe {
                let each = &mut *(data as *mut &mut dyn FnMut(&Object<'_>) -> bool);
                let info = &*info;
                let name = if info.dlpi_name.is_null() {
                    c""
                } else {
                    CStr::from_ptr(info.dlpi_name)
                };
                let (mut start, mut end) = (usize::MAX, 0);
                for segment in 0..usize::from(info.dlpi_phnum) {
                    let header = &*info.dlpi_phdr.add(segment);
                    if header.p_type == libc::PT_LOAD {
                        let at = info.dlpi_addr as usize + header.p_vaddr as usize;
                        start = start.min(at);
                        end = end.max(at + header.p_memsz as usize);
                    }
                }
                let has_counters = size
                    >= core::mem::offset_of!(libc::dl_phdr_info, dlpi_subs)
                        + core::mem::size_of::<u64>();
                let changes = if has_counters {
                    (info.dlpi_adds, info.dlpi_subs)
                } else {
                    (0, 0)
                };
                let object = Object {
                    name,
                    base: info.dlpi_addr as usize,
                    range: (start, end),
                    changes,
                };
                c_int::from(each(&object))
            }
        }
        let mut each = each;
        // SAFETY: the callback only reads the record and calls `each`, which
        // does not re-enter the loader (this function's contract); `each`
        // outlives the call.
        unsafe {
            libc::dl_iterate_phdr(
                Some(call),
                &mut each as *mut &mut dyn FnMut(&Object<'_>) -> bool as *mut c_void,
            )
        };
    }
}

/// Objects the walk copies per pass (a pass holds the loader's lock, and
/// `visit` may call the loader: it runs between passes, on copies).
const BATCH_OBJECTS: usize = 32;
/// Bytes of names a pass copies into the walk's own stack storage
/// (PATH_MAX: any path the kernel opens fits). A longer name gets storage
/// mapped for it. With the entries, about 5 KiB of stack: the walk runs
/// on the program's threads, whose stacks may be small.
const BATCH_NAME_BYTES: usize = 4096;
/// Times a walk starts over because the list changed between two of its
/// passes, before it goes on by position (see [`for_each_object`]).
const RESTARTS: u32 = 8;

#[derive(Clone, Copy, Default)]
struct Entry {
    name_at: usize,
    /// With its NUL.
    name_len: usize,
    range: (usize, usize),
}

/// Copies of one pass's objects: names packed into `names`.
struct Batch<'s> {
    names: &'s mut [u8],
    used: usize,
    entries: &'s mut [Entry],
    count: usize,
}

impl Batch<'_> {
    /// Copies `object` in; false (nothing copied) when it does not fit.
    fn push(&mut self, object: &Object<'_>) -> bool {
        let name = object.name.to_bytes_with_nul();
        if self.count == self.entries.len() || self.names.len() - self.used < name.len() {
            return false;
        }
        self.names[self.used..self.used + name.len()].copy_from_slice(name);
        self.entries[self.count] = Entry {
            name_at: self.used,
            name_len: name.len(),
            range: object.range,
        };
        self.used += name.len();
        self.count += 1;
        true
    }

    fn get(&self, index: usize) -> (&CStr, (usize, usize)) {
        let entry = self.entries[index];
        let bytes = &self.names[entry.name_at..entry.name_at + entry.name_len];
        // Copied with its NUL, none inside (it came from a CStr).
        let name = CStr::from_bytes_with_nul(bytes).unwrap_or(c"");
        (name, entry.range)
    }
}

/// How a pass ended.
enum PassEnd {
    /// The list's end: every object handled.
    Done,
    /// The batch is full: objects from position `next` on are left.
    Full,
    /// The object at `next` has a name of this many bytes (with its NUL),
    /// more than the whole name storage holds.
    Oversized(usize),
    /// The list changed since the walk's previous pass (new counters).
    Changed((u64, u64)),
}

/// Anonymous memory for names longer than the stack storage (mapped
/// directly: the walk runs where `malloc` may be zmqpool's own).
struct Mapped {
    at: *mut u8,
    len: usize,
}

impl Mapped {
    fn new(len: usize) -> Option<Mapped> {
        // SAFETY: a fresh private anonymous mapping; no existing memory is
        // touched.
        let at = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        (at != libc::MAP_FAILED).then_some(Mapped {
            at: at as *mut u8,
            len,
        })
    }

    fn bytes(&mut self) -> &mut [u8] {
        // SAFETY: `len` bytes mapped readable and writable by `new`, owned
        // by this value until drop; the borrow of self keeps them unique.
        unsafe { core::slice::from_raw_parts_mut(self.at, self.len) }
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        // SAFETY: the mapping made by `new`, unmapped once; no slice into it
        // outlives the borrow that made it.
        unsafe { libc::munmap(self.at as *mut c_void, self.len) };
    }
}

/// Calls `visit` with the path and mapped range of every loaded object
/// (but zmqpool's own and those without a name, such as the program),
/// until it returns true. Allocates nothing from `malloc`.
///
/// `visit` runs between passes over the loader's list, on copies, so it
/// may call the loader (`dlopen`, `dlsym`). What holds:
/// - When no object is loaded or unloaded during the walk, every object
///   is visited exactly once, in list order, whatever their number and
///   the length of their paths.
/// - When the list changes between two passes (the loader's `dlpi_adds`
///   or `dlpi_subs` moved), the walk starts over from the first object:
///   no object that stays loaded is missed, but one visited before the
///   change is visited again (`visit` must tolerate that; every caller
///   keeps one copy per mapped range). After 8 such restarts in one walk
///   (another thread loading and unloading without pause) it goes on by
///   position instead, and may then miss or repeat objects that moved.
/// - An object loaded after the walk's last pass is not visited; one
///   unloaded after its pass is still visited, by a name that no longer
///   resolves (`dlopen` with `RTLD_NOLOAD` returns NULL for it).
pub(crate) fn for_each_object(mut visit: impl FnMut(&CStr, (usize, usize)) -> bool) {
    let mut names = [0u8; BATCH_NAME_BYTES];
    let mut entries = [Entry::default(); BATCH_OBJECTS];
    walk(&Loaded, own_base(), &mut names, &mut entries, &mut visit);
}

/// The walk over `list`, its storage given (a test gives it small), the
/// object at `skip_base` left out.
fn walk(
    list: &dyn ObjectList,
    skip_base: usize,
    stack_names: &mut [u8],
    entries: &mut [Entry],
    visit: &mut dyn FnMut(&CStr, (usize, usize)) -> bool,
) {
    // The first list position not handled yet, in the list as the
    // counters `seen` describe it.
    let mut next = 0;
    let mut seen: Option<(u64, u64)> = None;
    let mut restarts = 0;
    let mut mapped: Option<Mapped> = None;
    loop {
        let names = match mapped.as_mut() {
            Some(region) => region.bytes(),
            None => &mut *stack_names,
        };
        let mut batch = Batch {
            names,
            used: 0,
            entries: &mut *entries,
            count: 0,
        };
        let mut position = 0;
        let mut end = PassEnd::Done;
        let mut pass_over = |object: &Object<'_>| -> bool {
            if position == 0 {
                match seen {
                    Some(counters) if counters != object.changes && restarts < RESTARTS => {
                        end = PassEnd::Changed(object.changes);
                        return true;
                    }
                    _ => seen = Some(object.changes),
                }
            }
            let at = position;
            position += 1;
            if at < next {
                return false;
            }
            if object.base == skip_base || object.name.is_empty() || batch.push(object) {
                next = at + 1;
                return false;
            }
            end = if batch.count == 0 {
                PassEnd::Oversized(object.name.to_bytes_with_nul().len())
            } else {
                PassEnd::Full
            };
            true
        };
        // SAFETY: the closure only copies into the batch and updates local
        // state: it never calls into the loader.
        unsafe { list.pass(&mut pass_over) };
        if let PassEnd::Changed(counters) = end {
            seen = Some(counters);
            next = 0;
            restarts += 1;
            continue;
        }
        for index in 0..batch.count {
            let (name, range) = batch.get(index);
            if visit(name, range) {
                return;
            }
        }
        match end {
            PassEnd::Done => return,
            PassEnd::Full | PassEnd::Changed(_) => {}
            PassEnd::Oversized(len) => match Mapped::new(len.max(2 * BATCH_NAME_BYTES)) {
                Some(region) => mapped = Some(region),
                // No memory for its name: the object is skipped, and said so
                // (on each walk that meets it).
                None => {
                    crate::sys::log::to_stderr(format_args!(
                        "zmqpool: no memory to read the name of a loaded object ({len} bytes); it is not searched for libzmq"
                    ));
                    next += 1;
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::{Cell, RefCell};
    use std::ffi::CString;

    type Objects = Vec<(CString, usize)>;
    type Change = Box<dyn Fn(usize, &mut Objects, &mut (u64, u64))>;

    /// A list of objects a test controls: `change` runs before every pass
    /// (with the pass's number), as another thread's dlopen/dlclose would.
    struct FakeList {
        objects: RefCell<Objects>,
        changes: Cell<(u64, u64)>,
        passes: Cell<usize>,
        change: Change,
    }

    impl FakeList {
        fn new(count: usize) -> FakeList {
            let objects = (0..count)
                .map(|i| {
                    (
                        CString::new(format!("/lib/object-{i}.so")).unwrap(),
                        0x1000 * (i + 1),
                    )
                })
                .collect();
            FakeList {
                objects: RefCell::new(objects),
                changes: Cell::new((count as u64, 0)),
                passes: Cell::new(0),
                change: Box::new(|_, _, _| {}),
            }
        }

        fn changing(
            mut self,
            change: impl Fn(usize, &mut Objects, &mut (u64, u64)) + 'static,
        ) -> FakeList {
            self.change = Box::new(change);
            self
        }
    }

    impl ObjectList for FakeList {
        unsafe fn pass(&self, each: &mut dyn FnMut(&Object<'_>) -> bool) {
            let pass = self.passes.get();
            self.passes.set(pass + 1);
            let mut changes = self.changes.get();
            (self.change)(pass, &mut self.objects.borrow_mut(), &mut changes);
            self.changes.set(changes);
            for (name, base) in self.objects.borrow().iter() {
                let object = Object {
                    name,
                    base: *base,
                    range: (*base, *base + 0x800),
                    changes,
                };
                if each(&object) {
                    return;
                }
            }
        }
    }

    fn add(objects: &mut Objects, changes: &mut (u64, u64), name: &str) {
        let base = 0x1000_0000 + 0x1000 * objects.len() + changes.0 as usize * 0x10_0000;
        objects.push((CString::new(name).unwrap(), base));
        changes.0 += 1;
    }

    /// Every object's name the walk visits, in order, with `entries`
    /// objects and `name_bytes` bytes of names per pass.
    fn visited(
        list: &FakeList,
        skip_base: usize,
        entries: usize,
        name_bytes: usize,
    ) -> Vec<String> {
        let mut names = vec![0u8; name_bytes];
        let mut slots = vec![Entry::default(); entries];
        let mut seen = Vec::new();
        walk(
            list,
            skip_base,
            &mut names,
            &mut slots,
            &mut |name, range| {
                seen.push(name.to_str().unwrap().to_owned());
                assert_eq!(range.1 - range.0, 0x800);
                false
            },
        );
        seen
    }

    fn names_of(list: &FakeList) -> Vec<String> {
        list.objects
            .borrow()
            .iter()
            .map(|(name, _)| name.to_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn every_object_is_visited_once_in_order_whatever_their_number_and_the_batch_size() {
        for count in 0..120 {
            for entries in [1, 2, 3, 16, 17, 64] {
                let list = FakeList::new(count);
                assert_eq!(
                    visited(&list, 0, entries, 4096),
                    names_of(&list),
                    "{count} objects, {entries} a pass"
                );
            }
        }
    }

    #[test]
    fn names_fill_a_pass_as_entries_do() {
        // Each name is 18-19 bytes with its NUL: 40 bytes hold two.
        let list = FakeList::new(50);
        assert_eq!(visited(&list, 0, 64, 40), names_of(&list));
        assert!(list.passes.get() >= 25, "{} passes", list.passes.get());
    }

    #[test]
    fn the_skipped_object_and_nameless_ones_are_left_out_and_nothing_else() {
        let list = FakeList::new(40);
        list.objects.borrow_mut()[0].0 = CString::new("").unwrap();
        let skipped = list.objects.borrow()[17].1;
        let mut expected = names_of(&list);
        expected.remove(17);
        expected.remove(0);
        assert_eq!(visited(&list, skipped, 16, 4096), expected);
    }

    #[test]
    fn a_name_longer_than_the_whole_storage_is_visited_whole() {
        let list = FakeList::new(30);
        let long = format!("/{}/libzmq-renamed.so", "d".repeat(20_000));
        list.objects.borrow_mut()[20].0 = CString::new(long.clone()).unwrap();
        let seen = visited(&list, 0, 8, 256);
        assert_eq!(seen, names_of(&list));
        assert_eq!(seen[20], long);
    }

    #[test]
    fn visit_returning_true_ends_the_walk_there() {
        let list = FakeList::new(100);
        let mut names = [0u8; 256];
        let mut slots = [Entry::default(); 5];
        let mut seen = 0;
        walk(&list, 0, &mut names, &mut slots, &mut |name, _| {
            seen += 1;
            name.to_bytes() == b"/lib/object-42.so"
        });
        assert_eq!(seen, 43);
        assert_eq!(list.passes.get(), 9);
    }

    #[test]
    fn objects_loaded_between_passes_are_visited_and_none_that_stays_is_missed() {
        // Two objects loaded before the third pass, one unloaded before the fifth.
        let list = FakeList::new(60).changing(|pass, objects, changes| {
            if pass == 2 {
                add(objects, changes, "/late/one.so");
                add(objects, changes, "/late/two.so");
            }
            if pass == 4 {
                objects.remove(3);
                changes.1 += 1;
            }
        });
        let seen = visited(&list, 0, 16, 4096);
        for name in names_of(&list) {
            assert!(seen.contains(&name), "{name} missed");
        }
        assert!(seen.contains(&"/late/two.so".to_owned()));
        // The last restart's pass on saw one unchanged list: once each, in order.
        let tail = &seen[seen.len() - names_of(&list).len()..];
        assert_eq!(tail, names_of(&list).as_slice());
    }

    #[test]
    fn an_unchanged_list_is_read_in_one_pass_per_batch_and_no_restart() {
        let list = FakeList::new(64);
        assert_eq!(visited(&list, 0, 16, 4096).len(), 64);
        // 64 objects, 16 a pass: the fourth pass reaches the list's end.
        assert_eq!(list.passes.get(), 4);
    }

    #[test]
    fn a_list_that_never_stops_changing_still_ends_and_misses_nothing_appended() {
        let list = FakeList::new(40).changing(|pass, objects, changes| {
            add(objects, changes, &format!("/churn/{pass}.so"));
        });
        let seen = visited(&list, 0, 4, 4096);
        assert!(list.passes.get() < 200, "{} passes", list.passes.get());
        for name in names_of(&list).iter().take(40) {
            assert!(seen.contains(name), "{name} missed");
        }
    }

    #[test]
    fn the_real_walk_sees_each_loaded_object_the_loader_lists_once() {
        let ours = own_base();
        let mut names = Vec::with_capacity(4096);
        // SAFETY: the closure only copies names into a vector with room
        // for them all (no allocation, no loader call during the pass).
        unsafe {
            Loaded.pass(&mut |object| {
                if !object.name.is_empty() && object.base != ours {
                    names.push(object.name.as_ptr());
                }
                false
            })
        };
        // The names stay valid: nothing is unloaded during the test.
        // SAFETY: each a name the loader keeps for a loaded object.
        let listed: Vec<_> = names
            .iter()
            .map(|&name| unsafe { CStr::from_ptr(name) }.to_owned())
            .collect();
        let mut walked = Vec::new();
        for_each_object(|name, range| {
            assert!(range.0 < range.1);
            walked.push(name.to_owned());
            false
        });
        assert!(!walked.is_empty());
        assert_eq!(walked, listed);
    }
}
