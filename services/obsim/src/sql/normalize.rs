//! One canonical text per statement, so that one pattern matches every way
//! a client spells it: comments and optimizer hints (`/*+ ... */`) dropped,
//! tokens separated by exactly one space, `'...'` and `"..."` literals both
//! written with single quotes, the `oceanbase.` prefix of names dropped,
//! backquotes removed, a trailing `;` dropped. Keywords keep their case: the
//! patterns compare without case.

/// A token of a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// A keyword, a name, a number, a variable (`@@session.autocommit`).
    Word(String),
    /// A string literal's content, escaped for single quotes.
    Str(String),
    /// Punctuation and operators (`(`, `,`, `!=`, `?`, ...).
    Punct(String),
}

impl Token {
    fn render(&self, out: &mut String) {
        match self {
            Self::Word(w) | Self::Punct(w) => out.push_str(w),
            Self::Str(s) => {
                out.push('\'');
                out.push_str(s);
                out.push('\'');
            }
        }
    }
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '$' | '@' | '#' | '.') || !c.is_ascii()
}

/// The tokens of `sql`.
pub fn tokens(sql: &str) -> Vec<Token> {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '/' && chars.get(i + 1) == Some(&'*') {
            // A comment or a hint: dropped.
            i += 2;
            while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                i += 1;
            }
            i += 2;
        } else if c == '-' && chars.get(i + 1) == Some(&'-') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '\'' || c == '"' {
            let (content, next) = literal(&chars, i);
            out.push(Token::Str(content));
            i = next;
        } else if c == '`' {
            let start = i + 1;
            i = start;
            while i < chars.len() && chars[i] != '`' {
                i += 1;
            }
            out.push(Token::Word(
                chars[start..i.min(chars.len())].iter().collect(),
            ));
            i += 1;
        } else if is_word_char(c) {
            let start = i;
            while i < chars.len() && is_word_char(chars[i]) {
                i += 1;
            }
            let w: String = chars[start..i].iter().collect();
            out.push(Token::Word(strip_schema(w)));
        } else {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            if matches!(two.as_str(), "!=" | "<>" | "<=" | ">=" | ":=" | "||") {
                out.push(Token::Punct(two));
                i += 2;
            } else {
                out.push(Token::Punct(c.to_string()));
                i += 1;
            }
        }
    }
    while matches!(out.last(), Some(Token::Punct(p)) if p == ";") {
        out.pop();
    }
    out
}

/// `oceanbase.DBA_OB_SERVERS` -> `DBA_OB_SERVERS` (any case).
fn strip_schema(w: String) -> String {
    const PREFIX: &str = "oceanbase.";
    if w.len() > PREFIX.len() && w[..PREFIX.len()].eq_ignore_ascii_case(PREFIX) {
        w[PREFIX.len()..].to_owned()
    } else {
        w
    }
}

/// The literal opening at `start`, re-escaped for single quotes, and the
/// index after it. Backslash escapes and doubled quotes are kept as they
/// are (a `\"` or `""` of a double-quoted literal becomes `"`).
fn literal(chars: &[char], start: usize) -> (String, usize) {
    let quote = chars[start];
    let mut out = String::new();
    let mut i = start + 1;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && i + 1 < chars.len() {
            let next = chars[i + 1];
            if quote == '"' && next == '"' {
                out.push('"');
            } else {
                out.push('\\');
                out.push(next);
            }
            i += 2;
        } else if c == quote {
            if chars.get(i + 1) == Some(&quote) {
                if quote == '\'' {
                    out.push_str("''");
                } else {
                    out.push('"');
                }
                i += 2;
            } else {
                return (out, i + 1);
            }
        } else if c == '\'' {
            // A single quote inside a double-quoted literal.
            out.push_str("\\'");
            i += 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    (out, i)
}

/// The canonical text of `sql`.
pub fn normalize(sql: &str) -> String {
    render(&tokens(sql))
}

pub fn render(tokens: &[Token]) -> String {
    let mut out = String::new();
    for (i, t) in tokens.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        t.render(&mut out);
    }
    out
}

/// The value of a literal as the server reads it: quotes removed, MySQL
/// escapes applied (`\n`, `\t`, `\0`, `\\`, `\'`, `''`; any other `\x` is
/// `x`).
pub fn unquote(lit: &str) -> String {
    let inner = lit
        .strip_prefix('\'')
        .and_then(|s| s.strip_suffix('\''))
        .unwrap_or(lit);
    let mut out = String::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some('0') => out.push('\0'),
                Some(other) => out.push(other),
                None => {}
            },
            '\'' if chars.peek() == Some(&'\'') => {
                chars.next();
                out.push('\'');
            }
            c => out.push(c),
        }
    }
    out
}

/// A value as a literal in canonical text: what a prepared statement's
/// parameter becomes.
pub fn quote(value: &str) -> String {
    let mut out = String::from("'");
    for c in value.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\0' => out.push_str("\\0"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_statement_normalize_alike() {
        let forms = [
            "select count(*) from oceanbase.__all_server where (start_service_time <= 0 or status != \"active\")",
            "SELECT  count( * )\n FROM __all_server WHERE(start_service_time<=0 or status!='active');",
            "select /*+ query_timeout(1000000000) */ count(*) from OceanBase.__all_server where (start_service_time <= 0 or status != 'active') ;",
        ];
        let n: Vec<String> = forms.iter().map(|f| normalize(f)).collect();
        assert_eq!(
            n[0],
            "select count ( * ) from __all_server where ( start_service_time <= 0 or status != 'active' )"
        );
        assert!(n[1].eq_ignore_ascii_case(&n[0]), "{}", n[1]);
        assert!(n[2].eq_ignore_ascii_case(&n[0]), "{}", n[2]);
    }

    #[test]
    fn qualified_columns_lose_the_schema_only() {
        assert_eq!(
            normalize(
                "select BUILD_VERSION from oceanbase.dba_ob_servers where oceanbase.dba_ob_servers.SVR_IP = ?"
            ),
            "select BUILD_VERSION from dba_ob_servers where dba_ob_servers.SVR_IP = ?"
        );
        assert_eq!(normalize("select `name` from t"), "select name from t");
    }

    #[test]
    fn literals_keep_their_content() {
        assert_eq!(
            normalize(r#"select "it's", 'a''b', 'c\'d', "e\"f", 'OceanBase[\s_]CE'"#),
            r#"select 'it\'s' , 'a''b' , 'c\'d' , 'e"f' , 'OceanBase[\s_]CE'"#
        );
        assert_eq!(unquote(r"'it\'s'"), "it's");
        assert_eq!(unquote("'a''b'"), "a'b");
        assert_eq!(unquote(r"'x\sy'"), "xsy");
        assert_eq!(unquote(&quote("a'b\\c")), "a'b\\c");
    }
}
