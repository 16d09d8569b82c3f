//! Byte ranges (RFC 9110 §14): which part of a file a `Range: bytes=…` header asks for.
//!
//! The server's choices, all allowed by the RFC:
//! - **One range** is served as `206 Partial Content` with `Content-Range: bytes a-b/LEN`. The
//!   three forms are `a-b`, `a-` (to the end) and `-n` (the last `n` bytes).
//! - **Several ranges** are answered with the whole file, `200` (§14.2: "a server MAY ignore the
//!   Range header field"). A `multipart/byteranges` body would cost a boundary and a part head per
//!   range for a feature browsers and download tools do not use.
//! - **A header that does not parse** (`bytes=abc`, `bytes=5-1`, a number past `u64`, another
//!   unit) is ignored, as §14.2 requires: the whole file, `200`.
//! - **No range can be served** (every first byte at or past the end, or `-0`): `416` with
//!   `Content-Range: bytes */LEN`.
//! - **An empty file** has no bytes to name: any range is ignored (`200`, empty body).

/// What the server does with a `Range` header for a file of a given length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RangeAnswer {
    /// Send the whole file with `200`.
    Full,
    /// Send `len` bytes from `start` with `206`.
    Partial {
        /// Offset of the first byte sent.
        start: u64,
        /// Number of bytes sent (at least 1).
        len: u64,
    },
    /// `416 Range Not Satisfiable`.
    Unsatisfiable,
}

/// One `range-spec` of the header, before it is held against the file's length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spec {
    /// `a-b` (`last: None` for `a-`).
    From { first: u64, last: Option<u64> },
    /// `-n`: the last `n` bytes.
    Suffix(u64),
}

/// The answer to `Range: header` for a file of `len` bytes.
pub(crate) fn evaluate(header: &str, len: u64) -> RangeAnswer {
    let Some(spec) = single_spec(header) else {
        return RangeAnswer::Full;
    };
    if len == 0 {
        return RangeAnswer::Full;
    }
    match spec {
        Spec::From { first, .. } if first >= len => RangeAnswer::Unsatisfiable,
        Spec::From { first, last } => {
            let last = last.map_or(len - 1, |last| last.min(len - 1));
            RangeAnswer::Partial {
                start: first,
                len: last - first + 1,
            }
        }
        Spec::Suffix(0) => RangeAnswer::Unsatisfiable,
        Spec::Suffix(n) => {
            let n = n.min(len);
            RangeAnswer::Partial {
                start: len - n,
                len: n,
            }
        }
    }
}

/// The one range the header names; `None` when it names none the server serves: another unit,
/// a syntax error anywhere, or more than one range.
fn single_spec(header: &str) -> Option<Spec> {
    let (unit, set) = header.trim().split_once('=')?;
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return None;
    }
    // `1#range-spec`: empty list elements are allowed and mean nothing (RFC 9110 §5.6.1).
    let mut specs = set.split(',').map(str::trim).filter(|s| !s.is_empty());
    let spec = parse_spec(specs.next()?)?;
    match specs.next() {
        None => Some(spec),
        Some(_) => None,
    }
}

/// `a-b`, `a-` or `-n`.
fn parse_spec(spec: &str) -> Option<Spec> {
    let (first, last) = spec.split_once('-')?;
    if first.is_empty() {
        return Some(Spec::Suffix(number(last)?));
    }
    let first = number(first)?;
    let last = if last.is_empty() {
        None
    } else {
        Some(number(last)?)
    };
    if last.is_some_and(|last| last < first) {
        return None; // `5-1` is invalid, not empty (§14.1.1)
    }
    Some(Spec::From { first, last })
}

/// Decimal digits only (no sign, no spaces), without overflow.
fn number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(start: u64, len: u64) -> RangeAnswer {
        RangeAnswer::Partial { start, len }
    }

    #[test]
    fn the_three_forms_of_one_range() {
        assert_eq!(evaluate("bytes=0-3", 10), part(0, 4));
        assert_eq!(evaluate("bytes=2-", 10), part(2, 8));
        assert_eq!(evaluate("bytes=-3", 10), part(7, 3));
        assert_eq!(evaluate("bytes=9-9", 10), part(9, 1), "the last byte");
        assert_eq!(evaluate("bytes=0-0", 10), part(0, 1), "the first byte");
    }

    #[test]
    fn a_range_past_the_end_is_cut_at_the_end() {
        assert_eq!(evaluate("bytes=5-100", 10), part(5, 5));
        assert_eq!(evaluate("bytes=-100", 10), part(0, 10));
        assert_eq!(evaluate("bytes=0-18446744073709551615", 10), part(0, 10));
    }

    #[test]
    fn unsatisfiable_ranges() {
        assert_eq!(evaluate("bytes=10-", 10), RangeAnswer::Unsatisfiable);
        assert_eq!(evaluate("bytes=10-20", 10), RangeAnswer::Unsatisfiable);
        assert_eq!(evaluate("bytes=-0", 10), RangeAnswer::Unsatisfiable);
    }

    #[test]
    fn what_is_ignored_gets_the_whole_file() {
        for header in [
            "bytes=abc",
            "bytes=5-1",
            "bytes=",
            "bytes=-",
            "bytes=1-2-3",
            "bytes=+1-2",
            "bytes= 1 - 2",
            "bytes=99999999999999999999-",
            "items=0-1",
            "bytes 0-1",
            "",
            "bytes=0-1,2-3",
            "bytes=0-1,abc",
        ] {
            assert_eq!(evaluate(header, 10), RangeAnswer::Full, "{header:?}");
        }
        let thousand = format!("bytes={}", vec!["0-1"; 1000].join(","));
        assert_eq!(evaluate(&thousand, 10), RangeAnswer::Full);
    }

    #[test]
    fn spelling_the_header_loosely_is_fine() {
        assert_eq!(evaluate(" Bytes = 1-2 ", 10), part(1, 2));
        assert_eq!(
            evaluate("bytes=, 1-2 ,", 10),
            part(1, 2),
            "empty list elements"
        );
    }

    #[test]
    fn an_empty_file_ignores_ranges() {
        assert_eq!(evaluate("bytes=0-", 0), RangeAnswer::Full);
        assert_eq!(evaluate("bytes=-5", 0), RangeAnswer::Full);
    }
}
