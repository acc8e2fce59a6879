//! Settings: the environment and `ZMQPOOL_CONF` turned into a [`Settings`]
//! value, by a parser that has no side effect and allocates nothing (the
//! library's constructor, `load.rs`, reads the environment once at load and
//! pushes the value into each layer). A malformed value is kept as a
//! [`Problems`] entry for the verbose report, and its default is used;
//! nothing here can fail.
//!
//! | variable | `ZMQPOOL_CONF` key | effect |
//! | --- | --- | --- |
//! | `ZMQPOOL_BACKEND=pool\|mimalloc\|system` | `backend` | where blocks come from (default pool) |
//! | `ZMQPOOL_MAX_CACHED_BYTES=SIZE` | `max_cached` | cap on bytes kept for reuse in the depot |
//! | `ZMQPOOL_MAX_THREAD_CACHED_BYTES=SIZE` | `thread_cached` | cap on bytes one thread keeps |
//! | `ZMQPOOL_DECAY_MS=N\|0\|now` | `decay_ms` | give back blocks unused for N ms (default 1000; 0: never; now: at once) |
//! | `ZMQPOOL_SHOW_STATS=1\|json` | `show_stats` | print the statistics to stderr at exit (text or one JSON object) |
//! | `ZMQPOOL_STATS_INTERVAL_MS=N` | `stats_interval_ms` | write the JSON statistics every N ms (default 0: off) |
//! | `ZMQPOOL_STATS_FILE=PATH` | `stats_file` | where they go (appended; default stderr) |
//! | `ZMQPOOL_VERBOSE=1` | `verbose` | one line at load, and any malformed setting |
//!
//! SIZE is a number of bytes with an optional binary suffix: `512K`,
//! `64M`, `4MiB`, `1G` (K, KB, KiB: 1024; M: 1024^2; G: 1024^3; any case).
//! `ZMQPOOL_CONF="max_cached=64M,thread_cached=4M"` sets several at once,
//! in the style of `MALLOC_CONF`; a separate variable overrides its key.

use core::ffi::CStr;

/// How the statistics are printed at exit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum ShowStats {
    #[default]
    Off,
    Text,
    Json,
}

/// What the environment asked for (None: the default).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Settings {
    /// The backend's name as given (checked against the pool's names by
    /// the wiring, which reports an unknown one), and which setting gave it.
    pub(crate) backend: Option<Named>,
    pub(crate) max_cached: Option<usize>,
    pub(crate) thread_cached: Option<usize>,
    /// The decay time as the C API takes it: 0 never, -1 at once, else ms.
    pub(crate) decay_ms: Option<i64>,
    pub(crate) stats_interval_ms: Option<u64>,
    pub(crate) stats_file: Option<&'static [u8]>,
    pub(crate) show_stats: ShowStats,
    pub(crate) verbose: bool,
    /// mimalloc options the user set themselves (left alone).
    pub(crate) mimalloc_eager_commit_set: bool,
    pub(crate) mimalloc_arena_reserve_set: bool,
}

/// A value and the setting that gave it (`ZMQPOOL_CONF` or a variable).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Named {
    pub(crate) value: &'static str,
    pub(crate) name: &'static str,
}

/// A setting that could not be parsed: its name and (the start of) its
/// value, kept in fixed storage so reporting allocates nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Malformed {
    pub(crate) name: &'static str,
    value: [u8; 48],
    len: usize,
}

impl Malformed {
    /// (The start of) the value, as text.
    pub(crate) fn value(&self) -> &str {
        core::str::from_utf8(&self.value[..self.len]).unwrap_or("(not UTF-8)")
    }
}

pub(crate) const MAX_MALFORMED: usize = 8;

/// The settings that could not be parsed: the first [`MAX_MALFORMED`],
/// and how many there were.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Problems {
    pub(crate) list: [Option<Malformed>; MAX_MALFORMED],
    pub(crate) count: usize,
}

impl Problems {
    /// Notes a value that is not valid for setting `name`.
    pub(crate) fn note_invalid(&mut self, named: Named) {
        self.note(named.name, named.value.as_bytes());
    }

    pub(crate) const NONE: Problems = Problems {
        list: [None; MAX_MALFORMED],
        count: 0,
    };

    fn note(&mut self, name: &'static str, value: &[u8]) {
        if self.count < MAX_MALFORMED {
            let mut kept = Malformed {
                name,
                value: [0; 48],
                len: value.len().min(48),
            };
            kept.value[..kept.len].copy_from_slice(&value[..kept.len]);
            self.list[self.count] = Some(kept);
        }
        self.count += 1;
    }
}

fn trim(text: &[u8]) -> &[u8] {
    let start = text
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(text.len());
    let end = text
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |at| at + 1);
    &text[start..end]
}

/// A size: decimal digits and an optional binary suffix (see the module
/// documentation). None for anything else, or a value beyond `usize`.
pub(crate) fn parse_size(text: &[u8]) -> Option<usize> {
    let text = trim(text);
    let digits = text.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    let mut value: usize = 0;
    for &digit in &text[..digits] {
        value = value
            .checked_mul(10)?
            .checked_add(usize::from(digit - b'0'))?;
    }
    let suffix = trim(&text[digits..]);
    // Compared without lowering a copy (nothing here allocates).
    let is = |names: &[&[u8]]| names.iter().any(|name| suffix.eq_ignore_ascii_case(name));
    let unit: usize = if is(&[b"", b"b"]) {
        1
    } else if is(&[b"k", b"kb", b"kib"]) {
        1 << 10
    } else if is(&[b"m", b"mb", b"mib"]) {
        1 << 20
    } else if is(&[b"g", b"gb", b"gib"]) {
        1 << 30
    } else {
        return None;
    };
    value.checked_mul(unit)
}

/// A flag: empty, "0", "off", "false" or "no" (any case) is off; anything
/// else on.
fn parse_flag(text: &[u8]) -> bool {
    let text = trim(text);
    !(text.is_empty()
        || [&b"0"[..], b"off", b"false", b"no"]
            .iter()
            .any(|off| text.eq_ignore_ascii_case(off)))
}

/// A decay time: milliseconds, 0 for never, `now` (or -1) for at once;
/// as the C API takes it (0, -1, or the milliseconds).
fn parse_decay(text: &[u8]) -> Option<i64> {
    let text = trim(text);
    if text.eq_ignore_ascii_case(b"now") || text == b"-1" {
        return Some(-1);
    }
    i64::try_from(parse_count(text)?).ok()
}

/// A plain decimal count.
fn parse_count(text: &[u8]) -> Option<u64> {
    let text = trim(text);
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    core::str::from_utf8(text).ok()?.parse().ok()
}

fn parse_show_stats(text: &[u8]) -> ShowStats {
    if trim(text).eq_ignore_ascii_case(b"json") {
        ShowStats::Json
    } else if parse_flag(text) {
        ShowStats::Text
    } else {
        ShowStats::Off
    }
}

/// A backend's name: non-empty UTF-8 text (which names exist is the
/// pool's business).
fn parse_backend(text: &'static [u8]) -> Option<&'static str> {
    core::str::from_utf8(trim(text))
        .ok()
        .filter(|name| !name.is_empty())
}

impl Settings {
    /// Applies one `key=value` (from ZMQPOOL_CONF, or a variable's value
    /// under its key); `name` is what a report calls it.
    /// `shown` is what a report of a malformed value quotes (the value, or
    /// ZMQPOOL_CONF's whole `key=value` item).
    fn set(
        &mut self,
        key: &[u8],
        value: &'static [u8],
        name: &'static str,
        shown: &[u8],
        problems: &mut Problems,
    ) {
        let ok = match key {
            b"decay_ms" => parse_decay(value)
                .map(|ms| self.decay_ms = Some(ms))
                .is_some(),
            b"stats_interval_ms" => parse_count(value)
                .map(|ms| self.stats_interval_ms = Some(ms))
                .is_some(),
            b"stats_file" => {
                let path = trim(value);
                if !path.is_empty() {
                    self.stats_file = Some(path);
                }
                !path.is_empty()
            }
            b"backend" => parse_backend(value)
                .map(|value| self.backend = Some(Named { value, name }))
                .is_some(),
            b"max_cached" => parse_size(value)
                .map(|n| self.max_cached = Some(n))
                .is_some(),
            b"thread_cached" => parse_size(value)
                .map(|n| self.thread_cached = Some(n))
                .is_some(),
            b"show_stats" => {
                self.show_stats = parse_show_stats(value);
                true
            }
            b"verbose" => {
                self.verbose = parse_flag(value);
                true
            }
            _ => false,
        };
        if !ok {
            problems.note(name, shown);
        }
    }

    /// Parses the settings from `getenv` (the environment at load, or a
    /// test's table): a pure function of what `getenv` answers.
    pub(crate) fn parse(
        getenv: impl Fn(&CStr) -> Option<&'static [u8]>,
        problems: &mut Problems,
    ) -> Settings {
        let mut settings = Settings {
            mimalloc_eager_commit_set: getenv(c"MIMALLOC_ARENA_EAGER_COMMIT").is_some(),
            mimalloc_arena_reserve_set: getenv(c"MIMALLOC_ARENA_RESERVE").is_some(),
            ..Settings::default()
        };
        if let Some(conf) = getenv(c"ZMQPOOL_CONF") {
            for item in conf
                .split(|&b| b == b',')
                .map(trim)
                .filter(|i| !i.is_empty())
            {
                match item.iter().position(|&b| b == b'=') {
                    Some(at) => settings.set(
                        trim(&item[..at]),
                        &item[at + 1..],
                        "ZMQPOOL_CONF",
                        item,
                        problems,
                    ),
                    None => problems.note("ZMQPOOL_CONF", item),
                }
            }
        }
        let variables: [(&CStr, &[u8], &'static str); 8] = [
            (c"ZMQPOOL_BACKEND", b"backend", "ZMQPOOL_BACKEND"),
            (c"ZMQPOOL_DECAY_MS", b"decay_ms", "ZMQPOOL_DECAY_MS"),
            (
                c"ZMQPOOL_STATS_INTERVAL_MS",
                b"stats_interval_ms",
                "ZMQPOOL_STATS_INTERVAL_MS",
            ),
            (c"ZMQPOOL_STATS_FILE", b"stats_file", "ZMQPOOL_STATS_FILE"),
            (
                c"ZMQPOOL_MAX_CACHED_BYTES",
                b"max_cached",
                "ZMQPOOL_MAX_CACHED_BYTES",
            ),
            (
                c"ZMQPOOL_MAX_THREAD_CACHED_BYTES",
                b"thread_cached",
                "ZMQPOOL_MAX_THREAD_CACHED_BYTES",
            ),
            (c"ZMQPOOL_SHOW_STATS", b"show_stats", "ZMQPOOL_SHOW_STATS"),
            (c"ZMQPOOL_VERBOSE", b"verbose", "ZMQPOOL_VERBOSE"),
        ];
        for (variable, key, name) in variables {
            if let Some(value) = getenv(variable) {
                settings.set(key, value, name, value, problems);
            }
        }
        settings
    }
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_take_binary_suffixes_in_any_case() {
        assert_eq!(parse_size(b"123"), Some(123));
        assert_eq!(parse_size(b" 512K "), Some(512 << 10));
        assert_eq!(parse_size(b"64M"), Some(64 << 20));
        assert_eq!(parse_size(b"4MiB"), Some(4 << 20));
        assert_eq!(parse_size(b"4mib"), Some(4 << 20));
        assert_eq!(parse_size(b"2 GB"), Some(2 << 30));
        assert_eq!(parse_size(b"7b"), Some(7));
    }

    #[test]
    fn malformed_sizes_are_refused() {
        for text in [
            &b""[..],
            b"M",
            b"-1",
            b"12X",
            b"1.5M",
            b"99999999999999999999",
            b"16777216T",
        ] {
            assert_eq!(
                parse_size(text),
                None,
                "{:?}",
                String::from_utf8_lossy(text)
            );
        }
        assert_eq!(parse_size(b"17179869184G"), None);
    }
}
