//! How much memory this process may use, as the kernel says: its resource
//! limits (`RLIMIT_AS`, `RLIMIT_DATA`), its control group's limits (cgroup
//! v2 `memory.max` and `memory.high`, cgroup v1 `memory.limit_in_bytes`, on
//! its group and every ancestor up to the mount's root), and the machine's
//! memory plus swap. Read once at load, without allocating: files are read
//! through a fixed buffer, a line at a time.
//!
//! The parsers are pure functions over bytes, tested on their own; only
//! [`read_limits`] touches the file system.

use core::ffi::c_int;

/// What bounds the memory this process may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// Physical memory plus swap (`sysinfo`).
    Machine,
    /// `RLIMIT_AS` (`ulimit -v`): address space, mapped or not.
    AddressSpace,
    /// `RLIMIT_DATA` (`ulimit -d`): private writable mappings (Linux >= 4.7).
    Data,
    /// A cgroup v2 `memory.max` (the kernel's hard limit: the OOM killer).
    CgroupMax,
    /// A cgroup v2 `memory.high` (where the kernel starts throttling).
    CgroupHigh,
    /// A cgroup v1 `memory.limit_in_bytes`.
    CgroupV1,
}

impl Source {
    /// The limit's name as an operator knows it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Source::Machine => "physical memory + swap",
            Source::AddressSpace => "RLIMIT_AS",
            Source::Data => "RLIMIT_DATA",
            Source::CgroupMax => "cgroup memory.max",
            Source::CgroupHigh => "cgroup memory.high",
            Source::CgroupV1 => "cgroup v1 memory.limit_in_bytes",
        }
    }
}

/// The process's limits, each `None` where there is none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Limits {
    pub(crate) machine: Option<u64>,
    pub(crate) address_space: Option<u64>,
    pub(crate) data: Option<u64>,
    pub(crate) cgroup: Option<(u64, Source)>,
}

impl Limits {
    /// The tightest limit an allocation can meet as a hard wall: memory plus
    /// swap, `RLIMIT_AS`, `RLIMIT_DATA`, a cgroup's `memory.max` or v1
    /// limit; not `memory.high`, which only throttles (None: none known).
    pub(crate) fn hard(&self) -> Option<u64> {
        let cgroup = match self.cgroup {
            Some((bytes, source)) if source != Source::CgroupHigh => Some(bytes),
            _ => None,
        };
        // Written out (no min over Options): a None's payload is never read,
        // not even by a branch-free select valgrind would flag.
        let mut hard = None;
        for bytes in [self.machine, self.address_space, self.data, cgroup]
            .into_iter()
            .flatten()
        {
            if hard.is_none_or(|best| bytes < best) {
                hard = Some(bytes);
            }
        }
        hard
    }

    /// The limit on address space: the tighter of `RLIMIT_AS` and
    /// `RLIMIT_DATA` (None: neither is set).
    pub(crate) fn address_space_limit(&self) -> Option<u64> {
        match (self.address_space, self.data) {
            (Some(a), Some(d)) => Some(a.min(d)),
            (a, d) => a.or(d),
        }
    }

    /// The tightest limit and what sets it (None: no limit known at all).
    pub(crate) fn tightest(&self) -> Option<(u64, Source)> {
        let mut tightest: Option<(u64, Source)> = None;
        for (bytes, source) in [
            self.machine.map(|bytes| (bytes, Source::Machine)),
            self.address_space
                .map(|bytes| (bytes, Source::AddressSpace)),
            self.data.map(|bytes| (bytes, Source::Data)),
            self.cgroup,
        ]
        .into_iter()
        .flatten()
        {
            if tightest.is_none_or(|(best, _)| bytes < best) {
                tightest = Some((bytes, source));
            }
        }
        tightest
    }
}

/// The kernel's limit on a process's mappings (`vm.max_map_count`), if
/// it can be read.
pub(crate) fn max_map_count() -> Option<u64> {
    read_limit_file(b"/proc/sys/vm/max_map_count").flatten()
}

/// Reads every limit the process is under.
pub(crate) fn read_limits() -> Limits {
    Limits {
        machine: machine_memory(),
        address_space: soft_rlimit(libc::RLIMIT_AS),
        data: soft_rlimit(libc::RLIMIT_DATA),
        cgroup: cgroup_limit(),
    }
}

/// A resource's soft limit, None when unlimited.
fn soft_rlimit(resource: libc::__rlimit_resource_t) -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct it is given, which is ours.
    if unsafe { libc::getrlimit(resource, &mut limit) } != 0
        || limit.rlim_cur == libc::RLIM_INFINITY
    {
        return None;
    }
    Some(limit.rlim_cur)
}

/// Physical memory plus swap.
fn machine_memory() -> Option<u64> {
    let mut info = core::mem::MaybeUninit::<libc::sysinfo>::zeroed();
    // SAFETY: sysinfo only writes the struct it is given, which is ours.
    if unsafe { libc::sysinfo(info.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: zero-initialised and filled by sysinfo (which succeeded);
    // every field is an integer, valid whatever its value.
    let info = unsafe { info.assume_init() };
    let unit = u64::from(info.mem_unit.max(1));
    // The fields are c_ulong: u64 on the 64-bit Linux targets built.
    let bytes = info
        .totalram
        .saturating_add(info.totalswap)
        .saturating_mul(unit);
    (bytes > 0).then_some(bytes)
}

/// The longest path handled: the kernel's PATH_MAX (a longer one could
/// not be opened anyway; it is skipped, never truncated).
const PATH_MAX: usize = 4096;

/// A path built in place, NUL-terminated for open().
struct PathBuf {
    bytes: [u8; PATH_MAX],
    len: usize,
}

impl PathBuf {
    fn new() -> PathBuf {
        PathBuf {
            bytes: [0; PATH_MAX],
            len: 0,
        }
    }

    /// Appends `part`; false when it does not fit (NUL included).
    fn push(&mut self, part: &[u8]) -> bool {
        if self.len + part.len() + 1 > PATH_MAX || part.contains(&0) {
            return false;
        }
        self.bytes[self.len..self.len + part.len()].copy_from_slice(part);
        self.len += part.len();
        self.bytes[self.len] = 0;
        true
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// Calls `each` with every line of the file (without its newline) until
/// it returns false; lines longer than the buffer are skipped whole.
/// False when the file cannot be opened.
fn for_each_line(path: &[u8], mut each: impl FnMut(&[u8]) -> bool) -> bool {
    let mut name = PathBuf::new();
    if !name.push(path) {
        return false;
    }
    // SAFETY: a NUL-terminated path in our buffer; O_CLOEXEC so no child
    // inherits it.
    let fd: c_int = unsafe {
        libc::open(
            name.bytes.as_ptr() as *const libc::c_char,
            libc::O_RDONLY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return false;
    }
    let mut buffer = [0u8; 4096];
    let mut filled = 0;
    let mut skipping = false;
    'read: loop {
        // SAFETY: reads into the unfilled tail of our own buffer.
        let got = unsafe {
            libc::read(
                fd,
                buffer[filled..].as_mut_ptr() as *mut libc::c_void,
                buffer.len() - filled,
            )
        };
        if got < 0 && crate::sys::errno::errno() == libc::EINTR {
            continue;
        }
        if got <= 0 {
            if filled > 0 && !skipping {
                each(&buffer[..filled]);
            }
            break;
        }
        filled += got as usize;
        let mut start = 0;
        while let Some(end) = buffer[start..filled].iter().position(|&b| b == b'\n') {
            let line = &buffer[start..start + end];
            start += end + 1;
            if skipping {
                skipping = false;
            } else if !each(line) {
                break 'read;
            }
        }
        buffer.copy_within(start..filled, 0);
        filled -= start;
        if filled == buffer.len() {
            // A line longer than the buffer: drop it up to its newline.
            skipping = true;
            filled = 0;
        }
    }
    // SAFETY: our own descriptor, closed once.
    unsafe { libc::close(fd) };
    true
}

/// A file's first line parsed as a limit: `Some(Some(bytes))` for a number,
/// `Some(None)` for "max" (none), None when unreadable or malformed.
fn read_limit_file(path: &[u8]) -> Option<Option<u64>> {
    let mut value = None;
    for_each_line(path, |line| {
        value = parse_limit(line);
        false
    });
    value
}

/// A cgroup limit value: a decimal byte count, or `max` for none.
pub(crate) fn parse_limit(text: &[u8]) -> Option<Option<u64>> {
    let text = trim(text);
    if text == b"max" {
        return Some(None);
    }
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut value: u64 = 0;
    for &digit in text {
        value = value
            .checked_mul(10)?
            .checked_add(u64::from(digit - b'0'))?;
    }
    Some(Some(value))
}

fn trim(mut text: &[u8]) -> &[u8] {
    while let [rest @ .., last] = text {
        if last.is_ascii_whitespace() {
            text = rest;
        } else {
            break;
        }
    }
    while let [first, rest @ ..] = text {
        if first.is_ascii_whitespace() {
            text = rest;
        } else {
            break;
        }
    }
    text
}

/// Which cgroup hierarchy a line of `/proc/self/cgroup` or a mount is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hierarchy {
    /// The unified (v2) hierarchy.
    Unified,
    /// The v1 hierarchy holding the memory controller.
    V1Memory,
}

/// The group of the process in `hierarchy`, from a line of
/// `/proc/self/cgroup` (`ID:CONTROLLERS:PATH`).
pub(crate) fn parse_cgroup_line(line: &[u8], hierarchy: Hierarchy) -> Option<&[u8]> {
    let mut fields = line.splitn(3, |&b| b == b':');
    let id = fields.next()?;
    let controllers = fields.next()?;
    let path = fields.next()?;
    let matches = match hierarchy {
        Hierarchy::Unified => id == b"0" && controllers.is_empty(),
        Hierarchy::V1Memory => controllers.split(|&b| b == b',').any(|c| c == b"memory"),
    };
    matches.then_some(path)
}

/// A mount of `hierarchy` from a line of `/proc/self/mountinfo`: its root
/// (the group it shows) and its mount point. Fields: ID PARENT MAJ:MIN ROOT
/// MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS.
pub(crate) fn parse_mount_line(line: &[u8], hierarchy: Hierarchy) -> Option<(&[u8], &[u8])> {
    let mut fields = line.split(|&b| b == b' ');
    let root = fields.nth(3)?;
    let mount_point = fields.next()?;
    let mut fields = fields.skip_while(|&field| field != b"-");
    fields.next()?; // the separator
    let fstype = fields.next()?;
    let _source = fields.next()?;
    let options = fields.next().unwrap_or(b"");
    let matches = match hierarchy {
        Hierarchy::Unified => fstype == b"cgroup2",
        Hierarchy::V1Memory => {
            fstype == b"cgroup" && options.split(|&b| b == b',').any(|o| o == b"memory")
        }
    };
    // Octal escapes (\040 for a space) are not decoded: such a mount point
    // fails to open and is skipped.
    matches.then_some((root, mount_point))
}

/// The part of `group` under the mount's `root`, or None when the group is
/// not below that root (another namespace's view).
pub(crate) fn relative_to_root<'a>(group: &'a [u8], root: &[u8]) -> Option<&'a [u8]> {
    if root == b"/" {
        return Some(group);
    }
    let rest = group.strip_prefix(root)?;
    (rest.is_empty() || rest.starts_with(b"/")).then_some(rest)
}

/// The tightest limit of the process's cgroup and its ancestors: v2 first,
/// else v1's memory controller.
fn cgroup_limit() -> Option<(u64, Source)> {
    [Hierarchy::Unified, Hierarchy::V1Memory]
        .into_iter()
        .find_map(hierarchy_limit)
}

fn hierarchy_limit(hierarchy: Hierarchy) -> Option<(u64, Source)> {
    let mut group = PathBuf::new();
    for_each_line(b"/proc/self/cgroup", |line| {
        match parse_cgroup_line(line, hierarchy) {
            Some(path) => {
                group.push(path);
                false
            }
            None => true,
        }
    });
    if group.len == 0 {
        return None;
    }
    let mut directory = PathBuf::new();
    let mut mount_len = 0;
    for_each_line(b"/proc/self/mountinfo", |line| {
        let Some((root, mount_point)) = parse_mount_line(line, hierarchy) else {
            return true;
        };
        let Some(relative) = relative_to_root(group.as_bytes(), root) else {
            return true;
        };
        directory = PathBuf::new();
        mount_len = mount_point.len();
        !(directory.push(mount_point) && directory.push(relative))
    });
    if directory.len == 0 {
        return None;
    }
    let files: &[(&[u8], Source)] = match hierarchy {
        Hierarchy::Unified => &[
            (b"/memory.max", Source::CgroupMax),
            (b"/memory.high", Source::CgroupHigh),
        ],
        Hierarchy::V1Memory => &[(b"/memory.limit_in_bytes", Source::CgroupV1)],
    };
    // The group and each ancestor up to the mount point: the tightest wins.
    let mut tightest: Option<(u64, Source)> = None;
    let mut len = directory.len;
    loop {
        for &(file, source) in files {
            let mut path = PathBuf::new();
            if !(path.push(&directory.bytes[..len]) && path.push(file)) {
                continue;
            }
            // v1 says "no limit" with a huge page-rounded number.
            if let Some(Some(bytes)) = read_limit_file(path.as_bytes()) {
                if bytes < (1 << 62) && tightest.is_none_or(|(best, _)| bytes < best) {
                    tightest = Some((bytes, source));
                }
            }
        }
        match directory.bytes[..len].iter().rposition(|&b| b == b'/') {
            Some(slash) if slash >= mount_len && len > mount_len => len = slash,
            _ => break,
        }
    }
    tightest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_is_a_byte_count_or_max() {
        assert_eq!(parse_limit(b"536870912\n"), Some(Some(536_870_912)));
        assert_eq!(parse_limit(b"max"), Some(None));
        assert_eq!(parse_limit(b""), None);
        assert_eq!(parse_limit(b"12k"), None);
        assert_eq!(parse_limit(b"99999999999999999999999"), None);
    }

    #[test]
    fn the_unified_group_is_the_line_with_id_0_and_no_controllers() {
        assert_eq!(
            parse_cgroup_line(b"0::/system.slice/app.service", Hierarchy::Unified),
            Some(&b"/system.slice/app.service"[..])
        );
        assert_eq!(parse_cgroup_line(b"4:memory:/a", Hierarchy::Unified), None);
        assert_eq!(
            parse_cgroup_line(b"4:cpu,memory:/a/b", Hierarchy::V1Memory),
            Some(&b"/a/b"[..])
        );
        assert_eq!(parse_cgroup_line(b"5:cpu:/a", Hierarchy::V1Memory), None);
        assert_eq!(parse_cgroup_line(b"0::/", Hierarchy::V1Memory), None);
    }

    #[test]
    fn mounts_are_found_by_file_system_type_and_controller() {
        let v2 = b"30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate";
        assert_eq!(
            parse_mount_line(v2, Hierarchy::Unified),
            Some((&b"/"[..], &b"/sys/fs/cgroup"[..]))
        );
        let v1 = b"40 30 0:35 /ns /sys/fs/cgroup/memory rw shared:7 - cgroup cgroup rw,memory";
        assert_eq!(
            parse_mount_line(v1, Hierarchy::V1Memory),
            Some((&b"/ns"[..], &b"/sys/fs/cgroup/memory"[..]))
        );
        assert_eq!(parse_mount_line(v1, Hierarchy::Unified), None);
        let cpu = b"41 30 0:36 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu,cpuacct";
        assert_eq!(parse_mount_line(cpu, Hierarchy::V1Memory), None);
        assert_eq!(parse_mount_line(b"garbage", Hierarchy::Unified), None);
    }

    #[test]
    fn a_group_is_read_relative_to_its_mount_root() {
        assert_eq!(relative_to_root(b"/a/b", b"/"), Some(&b"/a/b"[..]));
        assert_eq!(relative_to_root(b"/ns/a", b"/ns"), Some(&b"/a"[..]));
        assert_eq!(relative_to_root(b"/ns", b"/ns"), Some(&b""[..]));
        assert_eq!(relative_to_root(b"/nsx/a", b"/ns"), None);
        assert_eq!(relative_to_root(b"/other", b"/ns"), None);
    }

    #[test]
    fn the_tightest_limit_wins_and_says_what_it_is() {
        let limits = Limits {
            machine: Some(24 << 30),
            address_space: Some(1 << 30),
            data: None,
            cgroup: Some((512 << 20, Source::CgroupMax)),
        };
        assert_eq!(limits.tightest(), Some((512 << 20, Source::CgroupMax)));
        assert_eq!(Limits::default().tightest(), None);
    }

    #[test]
    fn this_process_has_at_least_the_machine_limit() {
        let limits = read_limits();
        assert!(limits.machine.is_some());
        assert!(limits.tightest().is_some());
    }
}
