//! Identifiers and literals, checked before they go into SQL text.
//!
//! Zone, tenant and parameter names go into statements unquoted or quoted
//! depending on the statement (obshell quotes zones, not parameter names),
//! so they are restricted to what OceanBase names are made of; values are
//! single-quoted with `'` and `\` escaped and must be printable.

use std::fmt;

/// A zone, tenant or parameter name: `^[A-Za-z0-9_]{1,128}$`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ident(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentError {
    #[error("{what} {value:?} is not a valid OceanBase name (letters, digits and _, at most 128)")]
    Name { what: &'static str, value: String },
    #[error("{what} {value:?} has characters that cannot go into a statement")]
    Value { what: &'static str, value: String },
    #[error("{0:?} is not an IPv4 address")]
    Ip(String),
}

impl Ident {
    /// `what` names the kind of name in the error ("zone", "tenant", ...).
    pub fn parse(what: &'static str, value: &str) -> Result<Self, IdentError> {
        let ok = !value.is_empty()
            && value.len() <= 128
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(IdentError::Name {
                what,
                value: value.to_owned(),
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `value` as a single-quoted SQL literal. Refused: control characters
/// (a parameter value never has them, and a newline would let a value end a
/// statement in a log or transcript reader's eyes).
pub fn quote(what: &'static str, value: &str) -> Result<String, IdentError> {
    if value.chars().any(char::is_control) {
        return Err(IdentError::Value {
            what,
            value: value.to_owned(),
        });
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        if c == '\'' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('\'');
    Ok(out)
}

/// An IPv4 address as OceanBase shows `SVR_IP`.
pub fn ip(value: &str) -> Result<std::net::Ipv4Addr, IdentError> {
    value.parse().map_err(|_| IdentError::Ip(value.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_letters_digits_and_underscores() {
        assert!(Ident::parse("zone", "zone1").is_ok());
        assert!(Ident::parse("parameter", "_upgrade_stage").is_ok());
        for bad in [
            "",
            "zone 1",
            "z'one",
            "zone1;drop",
            "z\u{e9}",
            &"z".repeat(129),
        ] {
            assert!(Ident::parse("zone", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn values_are_quoted_and_escaped() {
        assert_eq!(quote("value", "True").unwrap(), "'True'");
        assert_eq!(quote("value", "it's").unwrap(), r"'it\'s'");
        assert_eq!(quote("value", r"a\b").unwrap(), r"'a\\b'");
        assert!(quote("value", "a\nb").is_err());
        assert!(quote("value", "a\0b").is_err());
    }
}
