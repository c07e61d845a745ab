//! Header names a plugin hands back, parsed once per worker thread: a transformer sets the same
//! few names on every call, and parsing one (validating, lower-casing, copying it) costs more
//! than the rest of applying it. Each thread keeps its own short list, so a lookup touches no
//! memory another thread writes.

use std::cell::RefCell;

use http::header::InvalidHeaderName;
use http::HeaderName;
use thread_local::ThreadLocal;

/// Most names kept per plugin on one thread; a plugin that returns more distinct names has the
/// rest parsed on every call.
const MAX_NAMES_PER_THREAD: usize = 16;

/// Whether two header names are the same, case aside (plugins mostly write them in lower case,
/// which the exact comparison settles at once).
pub fn same_name(a: &str, b: &str) -> bool {
    a == b || a.eq_ignore_ascii_case(b)
}

/// The header names one plugin returned so far, per worker thread.
#[derive(Default)]
pub struct HeaderNames(ThreadLocal<RefCell<Vec<HeaderName>>>);

impl HeaderNames {
    /// `name` as a header name: the one parsed before (a text equal to a valid name but for case
    /// is valid too), or newly parsed and kept.
    pub fn parse(&self, name: &str) -> Result<HeaderName, InvalidHeaderName> {
        let known = self.0.get_or_default();
        let found = known
            .borrow()
            .iter()
            .find(|known| same_name(known.as_str(), name))
            .cloned();
        if let Some(found) = found {
            return Ok(found);
        }
        let parsed = HeaderName::from_bytes(name.as_bytes())?;
        let mut known = known.borrow_mut();
        if known.len() < MAX_NAMES_PER_THREAD {
            known.push(parsed.clone());
        }
        Ok(parsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_parsed_once_and_matched_regardless_of_case() {
        let names = HeaderNames::default();
        let first = names.parse("X-Principal").unwrap();
        assert_eq!(first.as_str(), "x-principal");
        assert_eq!(names.parse("x-PRINCIPAL").unwrap(), first);
        assert_eq!(names.0.get().unwrap().borrow().len(), 1);
    }

    #[test]
    fn invalid_names_are_refused_and_not_kept() {
        let names = HeaderNames::default();
        assert!(names.parse("bad name").is_err());
        assert!(names.parse("").is_err());
        assert!(names.0.get().unwrap().borrow().is_empty());
    }

    #[test]
    fn past_the_limit_names_are_still_parsed() {
        let names = HeaderNames::default();
        for i in 0..MAX_NAMES_PER_THREAD + 4 {
            let name = format!("x-name-{i}");
            assert_eq!(names.parse(&name).unwrap().as_str(), name);
        }
        assert_eq!(names.0.get().unwrap().borrow().len(), MAX_NAMES_PER_THREAD);
    }
}
