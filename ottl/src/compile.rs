//! Syntax tree to typed tree: paths resolved for a context, function names looked up, their
//! arguments checked and their patterns compiled. Every error names the column it is about.

use std::fmt;

use regex::Regex;

use crate::path::{self, Context, Key, Level, Path};
use crate::record::Record;
use crate::syntax::{self, Arg, Condition as Ast, Expr, Node};
use crate::tree::{Case, Cond, Converter, Editor, EvalError, Getter, MergeStrategy};
use crate::value::Value;

/// Why a statement or condition does not compile; `column` is 1-based, in characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct CompileError {
    pub column: usize,
    pub message: String,
}

impl CompileError {
    fn at(text: &str, offset: usize, message: impl Into<String>) -> Self {
        let column = text.get(..offset).map_or(offset, |s| s.chars().count()) + 1;
        Self {
            column,
            message: message.into(),
        }
    }
}

/// The editors, in the order the docs list them: `(name, parameters)`.
pub const EDITORS: &[(&str, &[&str])] = &[
    ("set", &["target", "value"]),
    ("delete_key", &["target", "key"]),
    ("delete_matching_keys", &["target", "pattern"]),
    ("keep_keys", &["target", "keys"]),
    ("keep_matching_keys", &["target", "pattern"]),
    ("replace_pattern", &["target", "regex", "replacement"]),
    (
        "replace_all_patterns",
        &["target", "mode", "regex", "replacement"],
    ),
    ("truncate_all", &["target", "limit"]),
    ("limit", &["target", "limit", "priority_keys"]),
    ("merge_maps", &["target", "source", "strategy"]),
];

/// The converters: `(name, parameters)`.
pub const CONVERTERS: &[(&str, &[&str])] = &[
    ("IsMatch", &["target", "pattern"]),
    ("Len", &["target"]),
    ("IsString", &["value"]),
    ("IsInt", &["value"]),
    ("IsDouble", &["value"]),
    ("IsBool", &["value"]),
    ("IsMap", &["value"]),
    ("IsList", &["value"]),
    ("Concat", &["values", "delimiter"]),
    ("Split", &["target", "delimiter"]),
    ("Int", &["value"]),
    ("Double", &["value"]),
    ("String", &["value"]),
    ("ConvertCase", &["target", "toCase"]),
    ("Substring", &["target", "start", "length"]),
    ("ToLowerCase", &["target"]),
    ("ToUpperCase", &["target"]),
    ("Trim", &["target"]),
    ("HasPrefix", &["target", "prefix"]),
    ("HasSuffix", &["target", "suffix"]),
];

/// A compiled statement: `editor(...) [where condition]` for one context.
#[derive(Debug, Clone)]
pub struct Statement {
    context: Context,
    editor: Editor,
    condition: Option<Cond>,
}

impl Statement {
    /// Compiles `text` for `context` (the older `context:` form).
    pub fn compile(text: &str, context: Context) -> Result<Self, CompileError> {
        let ast =
            syntax::parse_statement(text).map_err(|e| CompileError::at(text, e.at, e.message))?;
        Compiler { text, context }.statement(&ast)
    }

    /// Compiles `text`, taking the context from its path prefixes (`log.body`,
    /// `datapoint.attributes`): the deepest of `allowed` that a path names.
    pub fn compile_inferred(text: &str, allowed: &[Context]) -> Result<Self, CompileError> {
        let ast =
            syntax::parse_statement(text).map_err(|e| CompileError::at(text, e.at, e.message))?;
        let mut levels = Vec::new();
        levels_in_node(&ast.editor, &mut levels);
        if let Some(c) = &ast.condition {
            levels_in_condition(c, &mut levels);
        }
        let context = allowed
            .iter()
            .filter(|c| levels.contains(&c.level()))
            .max_by_key(|c| depth(c.level()))
            .copied()
            .ok_or_else(|| {
                let names: Vec<&str> = allowed.iter().map(|c| c.name()).collect();
                CompileError::at(
                    text,
                    0,
                    format!(
                        "cannot infer the context: prefix paths with one of {} (as `{}.attributes`), or use the `context:` form",
                        names.join(", "),
                        names.last().copied().unwrap_or("log")
                    ),
                )
            })?;
        Compiler { text, context }.statement(&ast)
    }

    pub fn context(&self) -> Context {
        self.context
    }

    /// Runs the statement on `record`: `Ok(true)` when its condition held and it edited.
    pub fn execute(&self, record: &mut dyn Record) -> Result<bool, EvalError> {
        if let Some(c) = &self.condition
            && !c.eval(record)?
        {
            return Ok(false);
        }
        self.editor.apply(record)?;
        Ok(true)
    }
}

/// A compiled condition for one context (the filter processor's form).
#[derive(Debug, Clone)]
pub struct Condition {
    context: Context,
    cond: Cond,
}

impl Condition {
    pub fn compile(text: &str, context: Context) -> Result<Self, CompileError> {
        let ast =
            syntax::parse_condition(text).map_err(|e| CompileError::at(text, e.at, e.message))?;
        let cond = Compiler { text, context }.condition(&ast)?;
        Ok(Self { context, cond })
    }

    pub fn context(&self) -> Context {
        self.context
    }

    pub fn matches(&self, record: &dyn Record) -> Result<bool, EvalError> {
        self.cond.eval(record)
    }
}

fn depth(level: Level) -> u8 {
    match level {
        Level::Resource => 0,
        Level::Scope => 1,
        Level::Metric | Level::Log | Level::Span => 2,
        Level::DataPoint | Level::SpanEvent => 3,
    }
}

fn levels_in_node(node: &Node, out: &mut Vec<Level>) {
    match &node.expr {
        Expr::Path { parts, .. } => out.extend(path::prefix_level(parts)),
        Expr::Call { args, .. } => args.iter().for_each(|a| levels_in_node(&a.value, out)),
        Expr::List(items) => items.iter().for_each(|n| levels_in_node(n, out)),
        Expr::Map(entries) => entries.iter().for_each(|(_, n)| levels_in_node(n, out)),
        Expr::Math { lhs, rhs, .. } => {
            levels_in_node(lhs, out);
            levels_in_node(rhs, out);
        }
        _ => {}
    }
}

fn levels_in_condition(c: &Ast, out: &mut Vec<Level>) {
    match c {
        Ast::Or(items) | Ast::And(items) => items.iter().for_each(|c| levels_in_condition(c, out)),
        Ast::Not(c) => levels_in_condition(c, out),
        Ast::Compare(a, _, b) => {
            levels_in_node(a, out);
            levels_in_node(b, out);
        }
        Ast::Value(n) => levels_in_node(n, out),
    }
}

struct Compiler<'t> {
    text: &'t str,
    context: Context,
}

impl Compiler<'_> {
    fn error(&self, at: usize, message: impl Into<String>) -> CompileError {
        CompileError::at(self.text, at, message)
    }

    fn statement(&self, ast: &syntax::Statement) -> Result<Statement, CompileError> {
        let editor = self.editor(&ast.editor)?;
        let condition = ast
            .condition
            .as_ref()
            .map(|c| self.condition(c))
            .transpose()?;
        Ok(Statement {
            context: self.context,
            editor,
            condition,
        })
    }

    fn condition(&self, ast: &Ast) -> Result<Cond, CompileError> {
        Ok(match ast {
            Ast::Or(items) => Cond::Or(
                items
                    .iter()
                    .map(|c| self.condition(c))
                    .collect::<Result<_, _>>()?,
            ),
            Ast::And(items) => Cond::And(
                items
                    .iter()
                    .map(|c| self.condition(c))
                    .collect::<Result<_, _>>()?,
            ),
            Ast::Not(c) => Cond::Not(Box::new(self.condition(c)?)),
            Ast::Compare(a, op, b) => Cond::Compare(self.getter(a)?, *op, self.getter(b)?),
            Ast::Value(n) => {
                if let Expr::Path { .. } | Expr::Call { .. } | Expr::Bool(_) = n.expr {
                    Cond::Value(self.getter(n)?)
                } else {
                    return Err(self.error(n.at, "expected a condition (a comparison, a bool or a converter such as IsMatch)"));
                }
            }
        })
    }

    fn path(&self, node: &Node) -> Result<Path, CompileError> {
        let Expr::Path { parts, keys } = &node.expr else {
            return Err(self.error(node.at, "expected a path such as attributes[\"key\"]"));
        };
        let (level, field) =
            path::resolve(self.context, parts).map_err(|m| self.error(node.at, m))?;
        Ok(Path {
            level,
            field,
            keys: keys.iter().map(key).collect(),
        })
    }

    fn getter(&self, node: &Node) -> Result<Getter, CompileError> {
        Ok(match &node.expr {
            Expr::Nil => Getter::Literal(Value::Nil),
            Expr::Bool(b) => Getter::Literal(Value::Bool(*b)),
            Expr::Int(i) => Getter::Literal(Value::Int(*i)),
            Expr::Double(d) => Getter::Literal(Value::Double(*d)),
            Expr::Str(s) => Getter::Literal(Value::Str(s.clone())),
            Expr::Bytes(b) => Getter::Literal(Value::Bytes(b.clone())),
            Expr::Enum(name) => {
                Getter::Literal(Value::Int(path::enum_value(name).ok_or_else(|| {
                    self.error(node.at, format!("unknown enum symbol `{name}`"))
                })?))
            }
            Expr::Path { .. } => Getter::Path(self.path(node)?),
            Expr::Call { name, args, keys } => Getter::Converter(
                Box::new(self.converter(node.at, name, args)?),
                keys.iter().map(key).collect(),
            ),
            Expr::List(items) => Getter::List(
                items
                    .iter()
                    .map(|n| self.getter(n))
                    .collect::<Result<_, _>>()?,
            ),
            Expr::Map(entries) => Getter::Map(
                entries
                    .iter()
                    .map(|(k, n)| Ok((k.clone(), self.getter(n)?)))
                    .collect::<Result<_, CompileError>>()?,
            ),
            Expr::Math { op, lhs, rhs } => Getter::Math(
                *op,
                Box::new(self.getter(lhs)?),
                Box::new(self.getter(rhs)?),
            ),
        })
    }

    /// The arguments of call `name` in parameter order, positional then named.
    fn args<'a>(
        &self,
        at: usize,
        name: &str,
        params: &[&str],
        required: usize,
        args: &'a [Arg],
    ) -> Result<Vec<Option<&'a Node>>, CompileError> {
        let mut out: Vec<Option<&Node>> = vec![None; params.len()];
        let mut next = 0;
        for arg in args {
            let slot = match &arg.name {
                None => {
                    next += 1;
                    next - 1
                }
                Some(n) => params.iter().position(|p| p == n).ok_or_else(|| {
                    self.error(
                        arg.value.at,
                        format!(
                            "{name} has no parameter `{n}`; it takes {}",
                            params.join(", ")
                        ),
                    )
                })?,
            };
            let Some(place) = out.get_mut(slot) else {
                return Err(self.error(
                    arg.value.at,
                    format!(
                        "{name} takes at most {} arguments ({})",
                        params.len(),
                        params.join(", ")
                    ),
                ));
            };
            *place = Some(&arg.value);
        }
        if let Some(missing) = out.iter().take(required).position(Option::is_none) {
            return Err(self.error(
                at,
                format!(
                    "{name} needs its `{}` argument ({})",
                    params.get(missing).copied().unwrap_or("?"),
                    params.join(", ")
                ),
            ));
        }
        Ok(out)
    }

    fn literal_str(&self, node: Option<&Node>, what: &str) -> Result<String, CompileError> {
        match node.map(|n| (&n.expr, n.at)) {
            Some((Expr::Str(s), _)) => Ok(s.clone()),
            Some((_, at)) => Err(self.error(at, format!("{what} must be a literal string"))),
            None => Err(self.error(0, format!("{what} is missing"))),
        }
    }

    fn regex(&self, node: Option<&Node>, what: &str) -> Result<Regex, CompileError> {
        let pattern = self.literal_str(node, what)?;
        Regex::new(&pattern).map_err(|e| {
            self.error(
                node.map_or(0, |n| n.at),
                format!("{what} `{pattern}` is not a valid regex: {e}"),
            )
        })
    }

    fn literal_int(&self, node: Option<&Node>, what: &str) -> Result<usize, CompileError> {
        match node.map(|n| (&n.expr, n.at)) {
            Some((Expr::Int(i), at)) => usize::try_from(*i)
                .map_err(|_| self.error(at, format!("{what} must not be negative"))),
            Some((_, at)) => Err(self.error(at, format!("{what} must be a literal int"))),
            None => Err(self.error(0, format!("{what} is missing"))),
        }
    }

    fn literal_strings(
        &self,
        node: Option<&Node>,
        what: &str,
    ) -> Result<Vec<String>, CompileError> {
        match node.map(|n| (&n.expr, n.at)) {
            None => Ok(Vec::new()),
            Some((Expr::List(items), _)) => items
                .iter()
                .map(|n| self.literal_str(Some(n), what))
                .collect(),
            Some((_, at)) => {
                Err(self.error(at, format!("{what} must be a list of literal strings")))
            }
        }
    }

    fn get(&self, node: Option<&Node>) -> Result<Getter, CompileError> {
        node.map_or(Ok(Getter::Literal(Value::Nil)), |n| self.getter(n))
    }

    fn converter(&self, at: usize, name: &str, args: &[Arg]) -> Result<Converter, CompileError> {
        let Some((_, params)) = CONVERTERS.iter().find(|(n, _)| *n == name) else {
            let hint = if EDITORS.iter().any(|(n, _)| *n == name) {
                format!("`{name}` is an editor; an editor can only start a statement")
            } else {
                let known: Vec<&str> = CONVERTERS.iter().map(|(n, _)| *n).collect();
                format!(
                    "unknown converter `{name}`; known converters: {}",
                    known.join(", ")
                )
            };
            return Err(self.error(at, hint));
        };
        let a = self.args(at, name, params, params.len(), args)?;
        let g = |i: usize| self.get(a.get(i).copied().flatten());
        Ok(match name {
            "IsMatch" => Converter::IsMatch(g(0)?, self.regex(a[1], "IsMatch's pattern")?),
            "Len" => Converter::Len(g(0)?),
            "IsString" => Converter::IsString(g(0)?),
            "IsInt" => Converter::IsInt(g(0)?),
            "IsDouble" => Converter::IsDouble(g(0)?),
            "IsBool" => Converter::IsBool(g(0)?),
            "IsMap" => Converter::IsMap(g(0)?),
            "IsList" => Converter::IsList(g(0)?),
            "Concat" => Converter::Concat(g(0)?, g(1)?),
            "Split" => Converter::Split(g(0)?, g(1)?),
            "Int" => Converter::Int(g(0)?),
            "Double" => Converter::Double(g(0)?),
            "String" => Converter::String(g(0)?),
            "ConvertCase" => {
                let case = match self.literal_str(a[1], "ConvertCase's toCase")?.as_str() {
                    "lower" => Case::Lower,
                    "upper" => Case::Upper,
                    "snake" => Case::Snake,
                    "camel" => Case::Camel,
                    other => {
                        return Err(self.error(
                            a[1].map_or(at, |n| n.at),
                            format!("ConvertCase's toCase `{other}` is not one of lower, upper, snake, camel"),
                        ));
                    }
                };
                Converter::ConvertCase(g(0)?, case)
            }
            "Substring" => Converter::Substring(g(0)?, g(1)?, g(2)?),
            "ToLowerCase" => Converter::ToLowerCase(g(0)?),
            "ToUpperCase" => Converter::ToUpperCase(g(0)?),
            "Trim" => Converter::Trim(g(0)?),
            "HasPrefix" => Converter::HasPrefix(g(0)?, g(1)?),
            _ => Converter::HasSuffix(g(0)?, g(1)?),
        })
    }

    fn editor(&self, node: &Node) -> Result<Editor, CompileError> {
        let Expr::Call { name, args, keys } = &node.expr else {
            return Err(self.error(
                node.at,
                "a statement must start with an editor call such as set(...)",
            ));
        };
        let Some((_, params)) = EDITORS.iter().find(|(n, _)| n == name) else {
            let hint = if CONVERTERS.iter().any(|(n, _)| n == name) {
                format!(
                    "`{name}` is a converter; a statement must start with an editor such as set(...)"
                )
            } else {
                let known: Vec<&str> = EDITORS.iter().map(|(n, _)| *n).collect();
                format!(
                    "unknown editor `{name}`; known editors: {}",
                    known.join(", ")
                )
            };
            return Err(self.error(node.at, hint));
        };
        if !keys.is_empty() {
            return Err(self.error(
                node.at,
                format!("an editor's result cannot be indexed (`{name}(...)[...]`)"),
            ));
        }
        let at = node.at;
        let required = match name.as_str() {
            "limit" => 2,
            "replace_pattern" | "replace_all_patterns" => params.len(),
            _ => params.len(),
        };
        let a = self.args(at, name, params, required, args)?;
        let target = || self.path(a[0].unwrap_or(node));
        Ok(match name.as_str() {
            "set" => Editor::Set(target()?, self.get(a[1])?),
            "delete_key" => Editor::DeleteKey(target()?, self.get(a[1])?),
            "delete_matching_keys" => Editor::DeleteMatchingKeys(
                target()?,
                self.regex(a[1], "delete_matching_keys's pattern")?,
            ),
            "keep_keys" => {
                Editor::KeepKeys(target()?, self.literal_strings(a[1], "keep_keys's keys")?)
            }
            "keep_matching_keys" => Editor::KeepMatchingKeys(
                target()?,
                self.regex(a[1], "keep_matching_keys's pattern")?,
            ),
            "replace_pattern" => Editor::ReplacePattern(
                target()?,
                self.regex(a[1], "replace_pattern's regex")?,
                self.get(a[2])?,
            ),
            "replace_all_patterns" => {
                let keys = match self
                    .literal_str(a[1], "replace_all_patterns's mode")?
                    .as_str()
                {
                    "key" => true,
                    "value" => false,
                    other => {
                        return Err(self.error(
                            a[1].map_or(at, |n| n.at),
                            format!("replace_all_patterns's mode `{other}` is not key or value"),
                        ));
                    }
                };
                Editor::ReplaceAllPatterns {
                    target: target()?,
                    keys,
                    pattern: self.regex(a[2], "replace_all_patterns's regex")?,
                    replacement: self.get(a[3])?,
                }
            }
            "truncate_all" => {
                Editor::TruncateAll(target()?, self.literal_int(a[1], "truncate_all's limit")?)
            }
            "limit" => Editor::Limit(
                target()?,
                self.literal_int(a[1], "limit's limit")?,
                self.literal_strings(a[2], "limit's priority_keys")?,
            ),
            _ => {
                let strategy = match self.literal_str(a[2], "merge_maps's strategy")?.as_str() {
                    "insert" => MergeStrategy::Insert,
                    "update" => MergeStrategy::Update,
                    "upsert" => MergeStrategy::Upsert,
                    other => {
                        return Err(self.error(
                            a[2].map_or(at, |n| n.at),
                            format!(
                                "merge_maps's strategy `{other}` is not insert, update or upsert"
                            ),
                        ));
                    }
                };
                Editor::MergeMaps(target()?, self.get(a[1])?, strategy)
            }
        })
    }
}

fn key(k: &syntax::Key) -> Key {
    match k {
        syntax::Key::Str(s) => Key::Str(s.clone()),
        syntax::Key::Int(i) => Key::Index(*i),
    }
}

impl fmt::Display for Statement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} statement", self.context)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::AttributeMap;

    /// A log record held as plain values: enough to run statements in the log context.
    #[derive(Default)]
    struct Log {
        body: Value,
        attributes: Vec<(String, Value)>,
    }

    impl AttributeMap for Vec<(String, Value)> {
        fn len(&self) -> usize {
            Vec::len(self)
        }
        fn get(&self, key: &str) -> Option<Value> {
            self.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
        }
        fn insert(&mut self, key: &str, value: Value) {
            match self.iter_mut().find(|(k, _)| k == key) {
                Some(slot) => slot.1 = value,
                None => self.push((key.to_string(), value)),
            }
        }
        fn retain(&mut self, keep: &mut dyn FnMut(&str) -> bool) {
            Vec::retain(self, |(k, _)| keep(k));
        }
        fn edit_strings(&mut self, edit: &mut dyn FnMut(&str, &mut String)) {
            for (k, v) in self.iter_mut() {
                if let Value::Str(s) = v {
                    edit(k, s);
                }
            }
        }
        fn edit_keys(&mut self, edit: &mut dyn FnMut(&mut String)) {
            self.iter_mut().for_each(|(k, _)| edit(k));
        }
    }

    impl Record for Log {
        fn get(&self, path: &Path) -> Value {
            match (path.field, path.single_key()) {
                (crate::Field::Body, None) => self.body.clone(),
                (crate::Field::Attributes, Some(k)) => {
                    AttributeMap::get(&self.attributes, k).unwrap_or_default()
                }
                (crate::Field::Attributes, None) => Value::Map(self.attributes.clone()),
                _ => Value::Nil,
            }
        }
        fn set(&mut self, path: &Path, value: Value) -> Result<(), String> {
            match (path.field, path.single_key()) {
                (crate::Field::Body, None) => self.body = value,
                (crate::Field::Attributes, Some(k)) => {
                    AttributeMap::insert(&mut self.attributes, k, value)
                }
                _ => return Err("read-only".into()),
            }
            Ok(())
        }
        fn edit_map(&mut self, path: &Path, edit: &mut dyn FnMut(&mut dyn AttributeMap)) -> bool {
            let is_map = path.field == crate::Field::Attributes && path.keys.is_empty();
            if is_map {
                edit(&mut self.attributes);
            }
            is_map
        }
    }

    fn run(statement: &str, log: &mut Log) -> bool {
        Statement::compile(statement, Context::Log)
            .unwrap_or_else(|e| panic!("{statement}: {e}"))
            .execute(log)
            .unwrap_or_else(|e| panic!("{statement}: {e}"))
    }

    fn s(v: &str) -> Value {
        Value::Str(v.into())
    }

    #[test]
    fn statements_edit_when_their_condition_holds() {
        let mut log = Log {
            body: s("user=alice password=hunter2"),
            attributes: vec![("env".into(), s("dev")), ("n".into(), Value::Int(3))],
        };
        assert!(run(
            r#"set(attributes["team"], "kafka") where attributes["env"] == "dev""#,
            &mut log
        ));
        assert!(!run(
            r#"set(attributes["x"], 1) where attributes["n"] > 3 or not IsString(body)"#,
            &mut log
        ));
        assert!(run(
            r#"replace_pattern(body, "password=\\w+", "password=***")"#,
            &mut log
        ));
        assert_eq!(log.body, s("user=alice password=***"));
        assert!(run(
            r#"set(attributes["sum"], attributes["n"] * 2 + 1)"#,
            &mut log
        ));
        assert_eq!(
            AttributeMap::get(&log.attributes, "sum"),
            Some(Value::Int(7))
        );
        assert!(run(
            r#"set(attributes["parts"], Concat(Split("a,b", ","), "-"))"#,
            &mut log
        ));
        assert_eq!(AttributeMap::get(&log.attributes, "parts"), Some(s("a-b")));
        assert!(run(r#"keep_keys(attributes, ["env", "team"])"#, &mut log));
        assert_eq!(log.attributes.len(), 2);
        assert!(run(
            r#"set(body, ConvertCase("HTTPRequest", "snake")) where (Len(body) >= 5 and true)"#,
            &mut log
        ));
        assert_eq!(log.body, s("http_request"));
        assert!(run(
            r#"set(attributes["absent"], attributes["missing"])"#,
            &mut log
        ));
        assert_eq!(
            AttributeMap::get(&log.attributes, "absent"),
            None,
            "setting nil does nothing"
        );
    }

    #[test]
    fn unknown_functions_and_paths_name_themselves_and_their_column() {
        let e = Statement::compile(r#"set(attributes["a"], Frobnicate(body))"#, Context::Log)
            .expect_err("unknown converter");
        assert_eq!(e.column, 22, "{e}");
        assert!(e.message.contains("unknown converter `Frobnicate`"), "{e}");
        let e = Statement::compile(r#"sett(body, "x")"#, Context::Log).expect_err("unknown editor");
        assert_eq!(e.column, 1);
        assert!(
            e.message.contains("unknown editor `sett`") && e.message.contains("set"),
            "{e}"
        );
        let e = Statement::compile(r#"set(bodyy, "x")"#, Context::Log).expect_err("unknown path");
        assert_eq!(e.column, 5);
        assert!(e.message.contains("unknown path `bodyy`"), "{e}");
        let e = Statement::compile(r#"set(body, "x") where IsMatch(body, "(")"#, Context::Log)
            .expect_err("bad regex");
        assert!(e.message.contains("not a valid regex"), "{e}");
        let e = Statement::compile(r#"set(body, "x" where"#, Context::Log).expect_err("syntax");
        assert!(e.message.contains("expected"), "{e}");
        let e = Condition::compile(r#"metric.name == "a""#, Context::Log)
            .expect_err("unreachable level");
        assert!(e.message.contains("cannot reach"), "{e}");
    }

    #[test]
    fn the_context_is_inferred_from_path_prefixes() {
        let all = [Context::Resource, Context::Scope, Context::Log];
        let st = Statement::compile_inferred(
            r#"set(log.attributes["a"], resource.attributes["b"])"#,
            &all,
        )
        .expect("log");
        assert_eq!(st.context(), Context::Log);
        let st = Statement::compile_inferred(r#"set(resource.attributes["a"], "x")"#, &all)
            .expect("resource");
        assert_eq!(st.context(), Context::Resource);
        let e = Statement::compile_inferred(r#"set(attributes["a"], "x")"#, &all)
            .expect_err("no prefix");
        assert!(e.message.contains("cannot infer the context"), "{e}");
    }
}
