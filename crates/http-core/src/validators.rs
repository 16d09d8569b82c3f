//! Validators and conditional requests (RFC 9110 §8.8 and §13): `Last-Modified`, `ETag`,
//! `If-None-Match`, `If-Modified-Since` and `If-Range` for static files.
//!
//! A browser that has a file cached asks again with the validators it was given; when the file
//! has not changed the answer is `304 Not Modified` with no body, and the connection stays open.
//!
//! - **`ETag`** is strong: `"<inode>-<mtime in ns>-<size>"`, in hexadecimal. A file rewritten in
//!   place changes its modification time, a file replaced by `rename` changes its inode; either
//!   changes the tag. (nginx uses `"<mtime in s>-<size>"`, which misses two writes of the same
//!   size within one second.)
//! - **`Last-Modified`** is the modification time in whole seconds, as HTTP dates have no finer
//!   unit.
//! - **Precedence** (§13.2.2): `If-None-Match` is evaluated first; only when it is absent does
//!   `If-Modified-Since` count. A date that does not parse is ignored (§13.1.3).
//! - **`If-Range`** (§13.1.5) keeps a `Range` only while the file is the one the client has part
//!   of: an entity tag must match strongly; a date must equal `Last-Modified` exactly.
//!   Simplification: the RFC also requires that date to be a strong validator (the file not
//!   modified within the second before it was sent); this server takes any exact match.

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::ranges::{self, RangeAnswer};

/// The validators of one version of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Validators {
    /// The modification time, whole seconds.
    pub(crate) last_modified: SystemTime,
    /// The same as an HTTP date, the `Last-Modified` value: formatted once per version of the
    /// file (kept with the open-file cache's entry), not once per response.
    pub(crate) last_modified_text: String,
    /// The strong entity tag, quotes included.
    pub(crate) etag: String,
}

/// What the conditional headers of a request ask for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Conditions {
    /// `If-None-Match` (several fields joined with `,`).
    pub(crate) if_none_match: Option<String>,
    /// `If-Modified-Since` (the first field).
    pub(crate) if_modified_since: Option<String>,
    /// `If-Range` (the first field).
    pub(crate) if_range: Option<String>,
    /// `Range`; `None` also when the request has several `Range` fields (ignored).
    pub(crate) range: Option<String>,
}

/// What a `GET` or `HEAD` of a file gets, once its conditions are weighed (RFC 9110 §13.2.2:
/// preconditions first, then `Range`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileAnswer {
    /// `200` with the whole file.
    Whole,
    /// `206` with `len` bytes from `start`.
    Part { start: u64, len: u64 },
    /// `304`, no body.
    NotModified,
    /// `416`.
    Unsatisfiable,
}

/// The answer to a request with `conditions` for a file of `len` bytes with these validators.
pub(crate) fn answer(validators: &Validators, len: u64, conditions: &Conditions) -> FileAnswer {
    if validators.not_modified(conditions) {
        return FileAnswer::NotModified;
    }
    let Some(range) = &conditions.range else {
        return FileAnswer::Whole;
    };
    if let Some(if_range) = &conditions.if_range {
        if !validators.if_range_holds(if_range) {
            return FileAnswer::Whole; // the client's part is of another version: send it all
        }
    }
    match ranges::evaluate(range, len) {
        RangeAnswer::Full => FileAnswer::Whole,
        RangeAnswer::Partial { start, len } => FileAnswer::Part { start, len },
        RangeAnswer::Unsatisfiable => FileAnswer::Unsatisfiable,
    }
}

impl Validators {
    /// The validators of the file `meta` describes.
    pub(crate) fn of(meta: &Metadata) -> Validators {
        let mtime_ns = i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec());
        let seconds = u64::try_from(meta.mtime()).unwrap_or(0);
        let last_modified = UNIX_EPOCH + Duration::from_secs(seconds);
        Validators {
            last_modified,
            last_modified_text: httpdate::fmt_http_date(last_modified),
            etag: format!("\"{:x}-{:x}-{:x}\"", meta.ino(), mtime_ns, meta.len()),
        }
    }

    /// Whether a `GET` or `HEAD` with these conditions gets `304 Not Modified` (§13.2.2 steps 3
    /// and 4).
    pub(crate) fn not_modified(&self, conditions: &Conditions) -> bool {
        if let Some(list) = &conditions.if_none_match {
            return self.matches_any(list);
        }
        conditions
            .if_modified_since
            .as_deref()
            .and_then(|date| httpdate::parse_http_date(date.trim()).ok())
            .is_some_and(|since| self.last_modified <= since)
    }

    /// Whether `If-Range: value` lets the `Range` apply (§13.1.5).
    pub(crate) fn if_range_holds(&self, value: &str) -> bool {
        let value = value.trim();
        if value.starts_with('"') {
            // A strong comparison: the same opaque tag, and not a weak one.
            return value == self.etag;
        }
        if value.starts_with("W/") {
            return false;
        }
        httpdate::parse_http_date(value).is_ok_and(|date| date == self.last_modified)
    }

    /// `If-None-Match`: `*`, or a list of entity tags compared weakly (`W/"x"` matches `"x"`).
    fn matches_any(&self, list: &str) -> bool {
        list.split(',')
            .map(str::trim)
            .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == self.etag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validators() -> Validators {
        let last_modified = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        Validators {
            last_modified,
            last_modified_text: httpdate::fmt_http_date(last_modified),
            etag: "\"a-b-c\"".to_owned(),
        }
    }

    fn none_match(value: &str) -> Conditions {
        Conditions {
            if_none_match: Some(value.to_owned()),
            ..Conditions::default()
        }
    }

    fn modified_since(value: &str) -> Conditions {
        Conditions {
            if_modified_since: Some(value.to_owned()),
            ..Conditions::default()
        }
    }

    #[test]
    fn if_none_match_compares_weakly_against_a_list() {
        let v = validators();
        assert!(v.not_modified(&none_match("\"a-b-c\"")));
        assert!(v.not_modified(&none_match("W/\"a-b-c\"")));
        assert!(v.not_modified(&none_match("\"x\", \"a-b-c\"")));
        assert!(v.not_modified(&none_match("*")));
        assert!(!v.not_modified(&none_match("\"x\"")));
        assert!(
            !v.not_modified(&none_match("a-b-c")),
            "an unquoted tag is not the tag"
        );
        assert!(!v.not_modified(&none_match("")));
        assert!(!v.not_modified(&Conditions::default()), "no condition: 200");
    }

    #[test]
    fn if_modified_since_is_304_at_or_after_the_modification() {
        let v = validators();
        // 1_700_000_000 is Tue, 14 Nov 2023 22:13:20 GMT.
        assert!(v.not_modified(&modified_since("Tue, 14 Nov 2023 22:13:20 GMT")));
        assert!(v.not_modified(&modified_since("Tue, 14 Nov 2023 22:13:21 GMT")));
        assert!(!v.not_modified(&modified_since("Tue, 14 Nov 2023 22:13:19 GMT")));
        assert!(
            v.not_modified(&modified_since("Tuesday, 14-Nov-23 22:13:20 GMT")),
            "the obsolete RFC 850 form"
        );
        assert!(
            !v.not_modified(&modified_since("yesterday")),
            "garbage is ignored"
        );
    }

    #[test]
    fn if_none_match_takes_precedence_over_if_modified_since() {
        let v = validators();
        let both = Conditions {
            if_none_match: Some("\"other\"".to_owned()),
            if_modified_since: Some("Tue, 14 Nov 2023 22:13:20 GMT".to_owned()),
            ..Conditions::default()
        };
        assert!(
            !v.not_modified(&both),
            "a tag that does not match wins over the date"
        );
    }

    #[test]
    fn if_range_needs_a_strong_match() {
        let v = validators();
        assert!(v.if_range_holds("\"a-b-c\""));
        assert!(!v.if_range_holds("W/\"a-b-c\""));
        assert!(!v.if_range_holds("\"x\""));
        assert!(v.if_range_holds("Tue, 14 Nov 2023 22:13:20 GMT"));
        assert!(!v.if_range_holds("Tue, 14 Nov 2023 22:13:21 GMT"));
        assert!(!v.if_range_holds("soon"));
    }

    #[test]
    fn a_file_gets_a_tag_from_inode_time_and_size() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        std::fs::write(&path, b"one").expect("write");
        let first = Validators::of(&std::fs::metadata(&path).expect("stat"));
        assert!(first.etag.starts_with('"') && first.etag.ends_with('"'));
        assert_eq!(first.etag.matches('-').count(), 2);
        assert!(first.etag.ends_with("-3\""), "size 3: {}", first.etag);
        let seconds = first
            .last_modified
            .duration_since(UNIX_EPOCH)
            .expect("after 1970");
        assert_eq!(seconds.subsec_nanos(), 0, "whole seconds");
        std::fs::write(dir.path().join("g"), b"four").expect("write");
        std::fs::rename(dir.path().join("g"), &path).expect("replace");
        let meta = std::fs::metadata(&path).expect("stat");
        let second = Validators::of(&meta);
        assert_ne!(first.etag, second.etag, "a replaced file has a new tag");
        // The documented composition: inode, modification time in ns, size.
        let ns = i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec());
        let expected = format!("\"{:x}-{:x}-{:x}\"", meta.ino(), ns, meta.len());
        assert_eq!(second.etag, expected);
    }
}
