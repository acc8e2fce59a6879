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
//! | `ZMQPOOL_DECAY_MS=N\|0\|now\|-1` | `decay_ms` | give back blocks unused for N ms (default 1000; 0: never; now or -1: at once) |
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
    pub(crate) mimalloc_disallow_arena_alloc_set: bool,
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
/// as the C API takes it (0, -1, or the milliseconds, at most i64::MAX).
fn parse_decay(text: &[u8]) -> Option<i64> {
    let text = trim(text);
    if text.eq_ignore_ascii_case(b"now") || text == b"-1" {
        return Some(-1);
    }
    Some(parse_count(text)?.min(i64::MAX as u64) as i64)
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

/// A backend's name, any case, among `known` (the pool's names, passed in
/// by the caller: the parser knows no pool types): the known spelling.
fn parse_backend(text: &[u8], known: &[&'static str]) -> Option<&'static str> {
    let text = trim(text);
    known
        .iter()
        .copied()
        .find(|name| text.eq_ignore_ascii_case(name.as_bytes()))
}

impl Settings {
    /// Applies one `key=value` (from ZMQPOOL_CONF, or a variable's value
    /// under its key); `name` is what a report calls it.
    /// `shown` is what a report of a malformed value quotes (the value, or
    /// ZMQPOOL_CONF's whole `key=value` item).
    #[allow(clippy::too_many_arguments)]
    fn set(
        &mut self,
        backends: &[&'static str],
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
            b"backend" => parse_backend(value, backends)
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
    /// test's table): a pure function of what `getenv` answers. `backends`
    /// are the backend names a setting may give. A variable overrides its
    /// `ZMQPOOL_CONF` key only with a valid value; every invalid one is
    /// noted in `problems`, in the order met.
    pub(crate) fn parse(
        getenv: impl Fn(&CStr) -> Option<&'static [u8]>,
        backends: &[&'static str],
        problems: &mut Problems,
    ) -> Settings {
        let mut settings = Settings {
            mimalloc_eager_commit_set: getenv(c"MIMALLOC_ARENA_EAGER_COMMIT").is_some(),
            mimalloc_arena_reserve_set: getenv(c"MIMALLOC_ARENA_RESERVE").is_some(),
            mimalloc_disallow_arena_alloc_set: getenv(c"MIMALLOC_DISALLOW_ARENA_ALLOC").is_some(),
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
                        backends,
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
                settings.set(backends, key, value, name, value, problems);
            }
        }
        settings
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_size, Problems, Settings, ShowStats};
    use core::ffi::CStr;

    const BACKENDS: [&str; 3] = ["pool", "mimalloc", "system"];

    /// The settings an environment given as a table makes, and its problems.
    fn parse(env: &[(&'static str, &'static str)]) -> (Settings, Problems) {
        let mut problems = Problems::NONE;
        let lookup = |name: &CStr| {
            env.iter()
                .find(|(key, _)| key.as_bytes() == name.to_bytes())
                .map(|(_, value)| value.as_bytes())
        };
        (Settings::parse(lookup, &BACKENDS, &mut problems), problems)
    }

    fn reported(problems: &Problems) -> Vec<(&'static str, String)> {
        problems
            .list
            .iter()
            .flatten()
            .map(|p| (p.name, p.value().to_string()))
            .collect()
    }

    #[test]
    fn an_empty_environment_is_all_defaults() {
        let (settings, problems) = parse(&[]);
        assert_eq!(settings, Settings::default());
        assert_eq!(problems.count, 0);
    }

    #[test]
    fn variables_override_conf_keys_with_valid_values_only() {
        let (settings, problems) = parse(&[
            ("ZMQPOOL_CONF", "backend=mimalloc,decay_ms=500"),
            ("ZMQPOOL_BACKEND", "bogus"),
            ("ZMQPOOL_DECAY_MS", "now"),
        ]);
        assert_eq!(settings.backend.map(|b| b.value), Some("mimalloc"));
        assert_eq!(settings.decay_ms, Some(-1));
        assert_eq!(
            reported(&problems),
            [("ZMQPOOL_BACKEND", "bogus".to_string())]
        );
    }

    #[test]
    fn a_bad_conf_item_is_reported_whole_even_when_a_variable_sets_its_key() {
        let (settings, problems) = parse(&[
            ("ZMQPOOL_CONF", "backend=bogus"),
            ("ZMQPOOL_BACKEND", "SYSTEM"),
        ]);
        assert_eq!(settings.backend.map(|b| b.value), Some("system"));
        assert_eq!(settings.backend.map(|b| b.name), Some("ZMQPOOL_BACKEND"));
        assert_eq!(
            reported(&problems),
            [("ZMQPOOL_CONF", "backend=bogus".to_string())]
        );
    }

    #[test]
    fn decay_takes_never_now_minus_one_and_clamps_huge_values() {
        for (text, expected) in [
            ("0", Some(0)),
            ("now", Some(-1)),
            ("-1", Some(-1)),
            ("250", Some(250)),
            ("99999999999999999999", None),
            ("18446744073709551615", Some(i64::MAX)),
            ("-2", None),
        ] {
            let (settings, _) = parse(&[("ZMQPOOL_DECAY_MS", text)]);
            assert_eq!(settings.decay_ms, expected, "{text}");
        }
    }

    #[test]
    fn every_variable_reaches_its_setting() {
        let (settings, problems) = parse(&[
            ("ZMQPOOL_MAX_CACHED_BYTES", "64M"),
            ("ZMQPOOL_MAX_THREAD_CACHED_BYTES", "512K"),
            ("ZMQPOOL_STATS_INTERVAL_MS", "100"),
            ("ZMQPOOL_STATS_FILE", " /tmp/s.json "),
            ("ZMQPOOL_SHOW_STATS", "json"),
            ("ZMQPOOL_VERBOSE", "yes"),
            ("MIMALLOC_ARENA_RESERVE", "1"),
            ("MIMALLOC_DISALLOW_ARENA_ALLOC", "0"),
        ]);
        assert_eq!(problems.count, 0);
        assert_eq!(settings.max_cached, Some(64 << 20));
        assert_eq!(settings.thread_cached, Some(512 << 10));
        assert_eq!(settings.stats_interval_ms, Some(100));
        assert_eq!(settings.stats_file, Some(&b"/tmp/s.json"[..]));
        assert_eq!(settings.show_stats, ShowStats::Json);
        assert!(settings.verbose);
        assert!(settings.mimalloc_arena_reserve_set && !settings.mimalloc_eager_commit_set);
        assert!(settings.mimalloc_disallow_arena_alloc_set);
    }

    #[test]
    fn more_than_eight_problems_are_counted() {
        let (_, problems) = parse(&[("ZMQPOOL_CONF", "a,b,c,d,e,f,g,h,i,j")]);
        assert_eq!(problems.count, 10);
        assert_eq!(reported(&problems).len(), 8);
    }

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
