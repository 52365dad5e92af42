//! OTTL's grammar: statement text to a syntax tree with byte offsets, nothing resolved yet.
//!
//! ```text
//! statement  = editor_call [ "where" condition ]
//! condition  = and_expr { "or" and_expr }
//! and_expr   = factor { "and" factor }
//! factor     = "not" factor | "(" condition ")" | value [ cmp_op value ]
//! value      = product { ("+" | "-") product }
//! product    = primary { ("*" | "/") primary }
//! primary    = string | bytes | number | "true" | "false" | "nil" | ENUM
//!            | Converter "(" args ")" keys | path keys | "[" list "]" | "{" map "}"
//! path       = ident { "." ident }        keys = { "[" (string | int) "]" }
//! args       = [ arg { "," arg } ]        arg = [ ident "=" ] value
//! ```
//! Editors are lowercase calls, converters start with an uppercase letter, enum symbols are
//! all uppercase (`SPAN_KIND_SERVER`).

use winnow::ascii::{digit1, hex_digit1, multispace0};
use winnow::combinator::{alt, cut_err, opt, separated};
use winnow::error::{ContextError, ErrMode, ModalResult, StrContext, StrContextValue};
use winnow::prelude::*;
use winnow::stream::{LocatingSlice, Location};
use winnow::token::{any, one_of, take_while};

type Input<'a> = LocatingSlice<&'a str>;

/// A parsed expression and the byte offset it starts at.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub expr: Expr,
    pub at: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Nil,
    Bool(bool),
    Int(i64),
    Double(f64),
    Str(String),
    Bytes(Vec<u8>),
    /// An enum symbol such as `SPAN_KIND_SERVER`.
    Enum(String),
    Path {
        parts: Vec<String>,
        keys: Vec<Key>,
    },
    Call {
        name: String,
        args: Vec<Arg>,
        keys: Vec<Key>,
    },
    List(Vec<Node>),
    Map(Vec<(String, Node)>),
    Math {
        op: MathOp,
        lhs: Box<Node>,
        rhs: Box<Node>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Key {
    Str(String),
    Int(i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MathOp {
    Add,
    Sub,
    Mul,
    Div,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Arg {
    pub name: Option<String>,
    pub value: Node,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    Or(Vec<Condition>),
    And(Vec<Condition>),
    Not(Box<Condition>),
    Compare(Node, CmpOp, Node),
    /// A value used as a boolean: `true`, a converter such as `IsMatch(...)`, a path.
    Value(Node),
}

/// `editor(...) where condition`.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub editor: Node,
    pub condition: Option<Condition>,
}

/// A syntax error: the byte offset where parsing failed and what was expected there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub at: usize,
    pub message: String,
}

fn finish<T>(
    text: &str,
    mut parser: impl FnMut(&mut Input<'_>) -> ModalResult<T>,
) -> Result<T, SyntaxError> {
    let result = (|i: &mut Input<'_>| -> ModalResult<T> {
        let v = parser(i)?;
        ws(i)?;
        Ok(v)
    })
    .parse(LocatingSlice::new(text));
    result.map_err(|e: winnow::error::ParseError<Input<'_>, ContextError>| {
        let expected: Vec<String> = e
            .inner()
            .context()
            .filter_map(|c| match c {
                StrContext::Expected(v) => Some(v.to_string()),
                _ => None,
            })
            .collect();
        let found = text
            .get(e.offset()..)
            .and_then(|rest| rest.split_whitespace().next())
            .map_or_else(|| "the end".to_string(), |t| format!("`{t}`"));
        let message = if expected.is_empty() {
            format!("unexpected {found}")
        } else {
            format!("expected {} but found {found}", expected.join(" or "))
        };
        SyntaxError {
            at: e.offset(),
            message,
        }
    })
}

/// Parses one statement (`set(name, "x") where ...`).
pub fn parse_statement(text: &str) -> Result<Statement, SyntaxError> {
    finish(text, statement)
}

/// Parses one condition (`attributes["k"] == "v" and IsMatch(name, "^a")`).
pub fn parse_condition(text: &str) -> Result<Condition, SyntaxError> {
    finish(text, condition)
}

fn expected(what: &'static str) -> StrContext {
    StrContext::Expected(StrContextValue::Description(what))
}

fn ws(i: &mut Input<'_>) -> ModalResult<()> {
    multispace0.void().parse_next(i)
}

fn ident<'a>(i: &mut Input<'a>) -> ModalResult<&'a str> {
    (
        one_of(|c: char| c.is_ascii_alphabetic() || c == '_'),
        take_while(0.., |c: char| c.is_ascii_alphanumeric() || c == '_'),
    )
        .take()
        .parse_next(i)
}

/// A keyword not followed by an identifier character.
fn keyword<'a>(word: &'static str) -> impl Parser<Input<'a>, (), ErrMode<ContextError>> {
    move |i: &mut Input<'a>| {
        ws(i)?;
        let start = i.checkpoint();
        let found = ident.parse_next(i)?;
        if found == word {
            Ok(())
        } else {
            i.reset(&start);
            Err(ErrMode::Backtrack(ContextError::new()))
        }
    }
}

fn statement(i: &mut Input<'_>) -> ModalResult<Statement> {
    // Whether it is an editor call is the compiler's check, which can name what it found.
    let editor =
        cut_err(primary.context(expected("an editor call such as set(...)"))).parse_next(i)?;
    let condition = opt((keyword("where"), cut_err(condition)).map(|(_, c)| c)).parse_next(i)?;
    Ok(Statement { editor, condition })
}

fn condition(i: &mut Input<'_>) -> ModalResult<Condition> {
    let terms: Vec<Condition> = separated(1.., and_expr, keyword("or")).parse_next(i)?;
    Ok(one_or(terms, Condition::Or))
}

fn and_expr(i: &mut Input<'_>) -> ModalResult<Condition> {
    let factors: Vec<Condition> = separated(1.., factor, keyword("and")).parse_next(i)?;
    Ok(one_or(factors, Condition::And))
}

fn one_or(mut items: Vec<Condition>, many: fn(Vec<Condition>) -> Condition) -> Condition {
    if items.len() == 1 {
        items.remove(0)
    } else {
        many(items)
    }
}

fn factor(i: &mut Input<'_>) -> ModalResult<Condition> {
    ws(i)?;
    if opt(keyword("not")).parse_next(i)?.is_some() {
        return cut_err(factor)
            .map(|c| Condition::Not(Box::new(c)))
            .parse_next(i);
    }
    ws(i)?;
    if opt('(').parse_next(i)?.is_some() {
        let inner = cut_err(condition).parse_next(i)?;
        ws(i)?;
        cut_err(')'.context(expected("`)`"))).parse_next(i)?;
        return Ok(inner);
    }
    let lhs = value
        .context(expected("a value or a condition"))
        .parse_next(i)?;
    ws(i)?;
    match opt(cmp_op).parse_next(i)? {
        Some(op) => {
            let rhs = cut_err(value.context(expected("a value to compare with"))).parse_next(i)?;
            Ok(Condition::Compare(lhs, op, rhs))
        }
        None => Ok(Condition::Value(lhs)),
    }
}

fn cmp_op(i: &mut Input<'_>) -> ModalResult<CmpOp> {
    alt((
        "==".value(CmpOp::Eq),
        "!=".value(CmpOp::Ne),
        "<=".value(CmpOp::Le),
        ">=".value(CmpOp::Ge),
        "<".value(CmpOp::Lt),
        ">".value(CmpOp::Gt),
    ))
    .parse_next(i)
}

fn value(i: &mut Input<'_>) -> ModalResult<Node> {
    let mut lhs = product(i)?;
    loop {
        ws(i)?;
        let Some(op) = opt(alt(('+'.value(MathOp::Add), '-'.value(MathOp::Sub)))).parse_next(i)?
        else {
            return Ok(lhs);
        };
        let rhs = cut_err(product).parse_next(i)?;
        lhs = math(op, lhs, rhs);
    }
}

fn product(i: &mut Input<'_>) -> ModalResult<Node> {
    let mut lhs = primary(i)?;
    loop {
        ws(i)?;
        let Some(op) = opt(alt(('*'.value(MathOp::Mul), '/'.value(MathOp::Div)))).parse_next(i)?
        else {
            return Ok(lhs);
        };
        let rhs = cut_err(primary).parse_next(i)?;
        lhs = math(op, lhs, rhs);
    }
}

fn math(op: MathOp, lhs: Node, rhs: Node) -> Node {
    Node {
        at: lhs.at,
        expr: Expr::Math {
            op,
            lhs: Box::new(lhs),
            rhs: Box::new(rhs),
        },
    }
}

fn primary(i: &mut Input<'_>) -> ModalResult<Node> {
    ws(i)?;
    let at = i.current_token_start();
    let expr = alt((
        string.map(Expr::Str),
        bytes.map(Expr::Bytes),
        number,
        list,
        map,
        named,
    ))
    .context(expected("a value"))
    .parse_next(i)?;
    Ok(Node { expr, at })
}

fn string(i: &mut Input<'_>) -> ModalResult<String> {
    '"'.parse_next(i)?;
    let mut out = String::new();
    loop {
        match cut_err(any.context(expected("a closing `\"`"))).parse_next(i)? {
            '"' => return Ok(out),
            '\\' => {
                let c = cut_err(any.context(expected("an escaped character"))).parse_next(i)?;
                out.push(match c {
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    other => other,
                });
            }
            c => out.push(c),
        }
    }
}

fn bytes(i: &mut Input<'_>) -> ModalResult<Vec<u8>> {
    let digits = ("0x", hex_digit1).map(|(_, d)| d).parse_next(i)?;
    if digits.len() % 2 != 0 {
        return Err(ErrMode::Cut(ContextError::new()));
    }
    (0..digits.len())
        .step_by(2)
        .map(|k| {
            digits
                .get(k..k + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| ErrMode::Cut(ContextError::new()))
        })
        .collect()
}

fn number(i: &mut Input<'_>) -> ModalResult<Expr> {
    let text = (
        opt(one_of(['-', '+'])),
        digit1,
        opt(('.', digit1)),
        opt((one_of(['e', 'E']), opt(one_of(['-', '+'])), digit1)),
    )
        .take()
        .parse_next(i)?;
    if text.contains(['.', 'e', 'E']) {
        text.parse()
            .map(Expr::Double)
            .map_err(|_| ErrMode::Cut(ContextError::new()))
    } else {
        text.parse()
            .map(Expr::Int)
            .map_err(|_| ErrMode::Cut(ContextError::new()))
    }
}

fn list(i: &mut Input<'_>) -> ModalResult<Expr> {
    '['.parse_next(i)?;
    let items: Vec<Node> = cut_err(separated(0.., value, (ws, ','))).parse_next(i)?;
    ws(i)?;
    cut_err(']'.context(expected("`]`"))).parse_next(i)?;
    Ok(Expr::List(items))
}

fn map(i: &mut Input<'_>) -> ModalResult<Expr> {
    '{'.parse_next(i)?;
    let entry = |i: &mut Input<'_>| {
        ws(i)?;
        let k = string.context(expected("a string key")).parse_next(i)?;
        ws(i)?;
        cut_err(':'.context(expected("`:`"))).parse_next(i)?;
        let v = cut_err(value).parse_next(i)?;
        Ok((k, v))
    };
    let entries: Vec<(String, Node)> = cut_err(separated(0.., entry, (ws, ','))).parse_next(i)?;
    ws(i)?;
    cut_err('}'.context(expected("`}`"))).parse_next(i)?;
    Ok(Expr::Map(entries))
}

/// Everything that starts with an identifier: keywords, enums, calls and paths.
fn named(i: &mut Input<'_>) -> ModalResult<Expr> {
    let first = ident.parse_next(i)?;
    match first {
        "nil" => return Ok(Expr::Nil),
        "true" => return Ok(Expr::Bool(true)),
        "false" => return Ok(Expr::Bool(false)),
        // Operators are never values; leave them to the condition grammar.
        "and" | "or" | "not" | "where" => return Err(ErrMode::Backtrack(ContextError::new())),
        _ => {}
    }
    if opt((ws, '(')).parse_next(i)?.is_some() {
        let args: Vec<Arg> = cut_err(separated(0.., arg, (ws, ','))).parse_next(i)?;
        ws(i)?;
        cut_err(')'.context(expected("`)` or `,`"))).parse_next(i)?;
        let keys = keys(i)?;
        return Ok(Expr::Call {
            name: first.to_string(),
            args,
            keys,
        });
    }
    if first
        .chars()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        && first.chars().any(|c| c.is_ascii_uppercase())
    {
        return Ok(Expr::Enum(first.to_string()));
    }
    let mut parts = vec![first.to_string()];
    while opt('.').parse_next(i)?.is_some() {
        let part = cut_err(ident.context(expected("a path segment"))).parse_next(i)?;
        parts.push(part.to_string());
    }
    let keys = keys(i)?;
    Ok(Expr::Path { parts, keys })
}

fn arg(i: &mut Input<'_>) -> ModalResult<Arg> {
    ws(i)?;
    let start = i.checkpoint();
    // `name = value`; `==` is a comparison, not a named argument.
    let name = opt((ident, ws, '=', winnow::combinator::not('=')).map(|(n, ..)| n.to_string()))
        .parse_next(i)?;
    if name.is_none() {
        i.reset(&start);
    }
    let value = value.parse_next(i)?;
    Ok(Arg { name, value })
}

fn keys(i: &mut Input<'_>) -> ModalResult<Vec<Key>> {
    let mut keys = Vec::new();
    while opt('[').parse_next(i)?.is_some() {
        ws(i)?;
        let key = cut_err(
            alt((
                string.map(Key::Str),
                digit1.try_map(|d: &str| d.parse().map(Key::Int)),
            ))
            .context(expected("a string or integer key")),
        )
        .parse_next(i)?;
        ws(i)?;
        cut_err(']'.context(expected("`]`"))).parse_next(i)?;
        keys.push(key);
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_and_parentheses() {
        let c = parse_condition(r#"a == 1 or b == 2 and not (c == 3 or IsMatch(d, "x"))"#)
            .expect("parses");
        let Condition::Or(terms) = c else {
            panic!("or at the top: {c:?}")
        };
        assert_eq!(terms.len(), 2);
        let Condition::And(factors) = &terms[1] else {
            panic!("and binds tighter: {:?}", terms[1])
        };
        assert!(matches!(factors[1], Condition::Not(_)));
    }

    #[test]
    fn literals_keys_and_named_arguments() {
        let s = parse_statement(
            r#"limit(target = attributes, limit = 10, priority_keys = ["a"]) where kind == SPAN_KIND_SERVER and trace_id.string != "" and body["k"][0] == 0x0aFF and x >= -1.5e2"#,
        )
        .expect("parses");
        let Expr::Call { name, args, .. } = &s.editor.expr else {
            panic!("a call")
        };
        assert_eq!(name, "limit");
        assert_eq!(args[1].name.as_deref(), Some("limit"));
        let text = format!("{:?}", s.condition);
        assert!(text.contains("Enum(\"SPAN_KIND_SERVER\")"), "{text}");
        assert!(text.contains("Bytes([10, 255])"), "{text}");
        assert!(text.contains("Double(-150.0)"), "{text}");
        assert!(text.contains("Int(0)"), "{text}");
    }

    #[test]
    fn errors_say_where_and_what_was_expected() {
        let e = parse_statement(r#"set(name, "x") where"#).expect_err("no condition");
        assert_eq!(e.at, 20);
        let e = parse_statement(r#"set(name, "unterminated)"#).expect_err("open string");
        assert!(e.message.contains("closing"), "{e:?}");
        let e = parse_statement(r#"set(name "x")"#).expect_err("missing comma");
        assert_eq!(e.at, 9, "{e:?}");
        assert!(e.message.contains("`)` or `,`"), "{e:?}");
    }
}
