//! Reading one parameter out of a raw query string (`a=1&b=x%20y`), percent-decoded: the one
//! place for route templates, request validation, authorizer identity sources and the admin API.

/// The first value of parameter `name` in `query` (`None` without a query or the parameter).
pub fn param(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_first_decoded_value() {
        assert_eq!(param(Some("a=1&b=x%20y&a=2"), "a").as_deref(), Some("1"));
        assert_eq!(param(Some("a=1&b=x%20y"), "b").as_deref(), Some("x y"));
        assert_eq!(param(Some("flag"), "flag").as_deref(), Some(""));
        assert_eq!(param(Some("a=1"), "c"), None);
        assert_eq!(param(None, "a"), None);
    }
}
