//! Patterns written as SQL: a template is a statement with captures
//! `{name:class}` and optional parts `[ ... ]`, normalized like the
//! statements it matches and compiled to an anchored, case-insensitive
//! regex.
//!
//! Classes: `str` a literal, `int` an integer, `ident` a bare name, `name`
//! a bare or quoted name, `value` a literal, number or word, `list` a
//! parenthesized list of values, `count` a `count(*)`/`count(1)` with an
//! optional alias, `re:<regex>` anything else (written against the
//! normalized text: tokens separated by one space).

use regex::{Captures, Regex};

use super::normalize::{Token, render, tokens, unquote};

const STR: &str = r"'(?:[^'\\]|\\.|'')*'";
const INT: &str = r"(?:- )?\d+";
const IDENT: &str = r"[A-Za-z0-9_$#]+";

fn class(kind: &str) -> String {
    let value = format!(r"(?:{STR}|(?:- )?[A-Za-z0-9_.$@#+:]+)");
    match kind {
        "str" => STR.into(),
        "int" => INT.into(),
        "ident" => IDENT.into(),
        "name" => format!("(?:{STR}|{IDENT})"),
        "value" => value,
        "list" => format!(r"\( {value}(?: , {value})* \)"),
        "count" => r"count \( (?:\*|1) \)(?: as \w+| \w+)?".into(),
        other => match other.strip_prefix("re:") {
            Some(re) => re.into(),
            None => panic!("unknown capture class {other:?}"),
        },
    }
}

enum Piece {
    Sql(String),
    Capture { name: String, class: String },
    Open,
    Close,
}

/// Splits a template into SQL text, captures and optional brackets; `{`
/// and `[` inside literals are SQL.
fn pieces(template: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut sql = String::new();
    let mut quote: Option<char> = None;
    let mut chars = template.chars();
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            sql.push(c);
            if c == '\\' {
                sql.extend(chars.next());
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => {
                quote = Some(c);
                sql.push(c);
            }
            '{' | '[' | ']' => {
                if !sql.trim().is_empty() {
                    out.push(Piece::Sql(std::mem::take(&mut sql)));
                }
                sql.clear();
                match c {
                    '[' => out.push(Piece::Open),
                    ']' => out.push(Piece::Close),
                    _ => {
                        let spec: String = chars.by_ref().take_while(|&c| c != '}').collect();
                        let (name, class) = spec.split_once(':').unwrap_or((&spec, "value"));
                        out.push(Piece::Capture {
                            name: name.into(),
                            class: class.into(),
                        });
                    }
                }
            }
            c => sql.push(c),
        }
    }
    if !sql.trim().is_empty() {
        out.push(Piece::Sql(sql));
    }
    out
}

/// The regex of `template`.
pub fn compile(template: &str) -> Regex {
    let mut re = String::from("(?i)^");
    let mut first = true;
    let sep = |re: &mut String, first: &mut bool| {
        if !*first {
            re.push(' ');
        }
        *first = false;
    };
    for piece in pieces(template) {
        match piece {
            Piece::Sql(text) => {
                sep(&mut re, &mut first);
                let toks: Vec<Token> = tokens(&text);
                re.push_str(&regex::escape(&render(&toks)));
            }
            Piece::Capture { name, class: c } => {
                sep(&mut re, &mut first);
                re.push_str(&format!("(?P<{name}>{})", class(&c)));
            }
            Piece::Open => re.push_str("(?:"),
            Piece::Close => re.push_str(")?"),
        }
    }
    re.push('$');
    Regex::new(&re).unwrap_or_else(|e| panic!("template {template:?}: {e}"))
}

/// Reading captures.
pub trait CapsExt {
    /// The capture as a value: a literal unquoted, anything else as is.
    fn text(&self, name: &str) -> Option<String>;
    fn int(&self, name: &str) -> Option<i64>;
    /// A `list` capture's values.
    fn list(&self, name: &str) -> Vec<String>;
    /// The column a `count` capture names: its alias, or the expression as
    /// written (`count(*)`, `COUNT(1)`).
    fn count_name(&self, name: &str) -> String;
}

impl CapsExt for Captures<'_> {
    fn text(&self, name: &str) -> Option<String> {
        self.name(name).map(|m| value(m.as_str()))
    }

    fn int(&self, name: &str) -> Option<i64> {
        self.name(name)
            .and_then(|m| m.as_str().replace(' ', "").parse().ok())
    }

    fn list(&self, name: &str) -> Vec<String> {
        let Some(m) = self.name(name) else {
            return Vec::new();
        };
        let inner = m.as_str().trim_start_matches("( ").trim_end_matches(" )");
        split_list(inner).into_iter().map(|v| value(&v)).collect()
    }

    fn count_name(&self, name: &str) -> String {
        let Some(m) = self.name(name) else {
            return "count(*)".into();
        };
        let words: Vec<&str> = m.as_str().split(' ').collect();
        // count ( * ) [as alias | alias]
        match words.as_slice() {
            [f, "(", arg, ")"] => format!("{f}({arg})"),
            [_, "(", _, ")", alias] => (*alias).to_owned(),
            [_, "(", _, ")", kw, alias] if kw.eq_ignore_ascii_case("as") => (*alias).to_owned(),
            _ => m.as_str().replace(' ', ""),
        }
    }
}

fn value(s: &str) -> String {
    if s.starts_with('\'') {
        unquote(s)
    } else {
        s.replace(' ', "")
    }
}

/// `'a' , 'b,c' , 3` -> [`'a'`, `'b,c'`, `3`].
fn split_list(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_str = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' if in_str => {
                cur.push(c);
                cur.extend(chars.next());
            }
            '\'' => {
                in_str = !in_str;
                cur.push(c);
            }
            ',' if !in_str => out.push(std::mem::take(&mut cur).trim().to_owned()),
            c => cur.push(c),
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::normalize::normalize;

    #[test]
    fn templates_match_every_spelling() {
        let re = compile("ALTER SYSTEM SET {name:ident} = {value:value} [SERVER [=] {server:str}]");
        for (sql, server) in [
            ("alter system set enable_rebalance = 'True'", None),
            (
                "ALTER SYSTEM SET enable_rebalance='True' SERVER = '1.2.3.4:2882'",
                Some("1.2.3.4:2882"),
            ),
            (
                "alter system set enable_rebalance = 'True' server '1.2.3.4:2882'",
                Some("1.2.3.4:2882"),
            ),
        ] {
            let n = normalize(sql);
            let c = re.captures(&n).unwrap_or_else(|| panic!("{n}"));
            assert_eq!(c.text("value").as_deref(), Some("True"));
            assert_eq!(c.text("server").as_deref(), server);
        }
        assert!(!re.is_match(&normalize("alter system set x = 'y' tenant = sys")));
    }

    #[test]
    fn counts_name_their_column() {
        let re = compile("select {c:count} from t");
        for (sql, name) in [
            ("select count(*) from t", "count(*)"),
            ("SELECT COUNT(1) from t", "COUNT(1)"),
            ("select count(1) as unsync_cnt from t", "unsync_cnt"),
            ("select count(*) cnt from t", "cnt"),
        ] {
            let n = normalize(sql);
            assert_eq!(re.captures(&n).unwrap().count_name("c"), name, "{sql}");
        }
    }

    #[test]
    fn lists_and_literals_with_brackets() {
        let re = compile("select 1 where x in {l:list} and y = 'a[b]{c}'");
        let n = normalize("select 1 where x in ('p', 'q,r', 3) and y = 'a[b]{c}'");
        assert_eq!(re.captures(&n).unwrap().list("l"), ["p", "q,r", "3"]);
    }
}
