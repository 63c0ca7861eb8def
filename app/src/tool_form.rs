//! The "try a tool" form: input fields generated from a tool's JSON Schema, and the arguments
//! object they make. Pure (no rendering), so the browser and the tests share it.
//!
//! Each top-level property of an object schema becomes one field: `string` a text input,
//! `number`/`integer` a number input, `boolean` a checkbox, `enum` (or `const`) a select, and
//! anything else (objects, arrays, references, unions) a JSON text area. A schema without
//! `properties` gets one text area for the whole arguments object.

use serde_json::{Map, Value};

/// What input a field is.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    /// A text input; the value is sent as a string.
    Text,
    /// A number input; `integer` asks for a whole number.
    Number {
        /// Whole numbers only.
        integer: bool,
    },
    /// A checkbox; its value is `"true"` or empty.
    Boolean,
    /// A select of these values; its value is the index of the chosen one, or empty.
    Choice(Vec<Value>),
    /// A text area holding any JSON value.
    Json,
}

/// One generated field.
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    /// Property name (hostile text: shown as text only).
    pub name: String,
    /// Input kind.
    pub kind: Kind,
    /// Listed in the schema's `required`.
    pub required: bool,
    /// The property's `description` (or `title`).
    pub description: Option<String>,
    /// What the input starts with: the schema's `default`, if any, in the field's own terms.
    pub initial: String,
    /// For JSON fields: the declared type, to tell the operator what to write.
    pub type_hint: Option<String>,
}

/// The form a tool's input schema makes.
#[derive(Clone, Debug, PartialEq)]
pub enum Shape {
    /// One field per property (none: the tool takes no arguments).
    Fields(Vec<Field>),
    /// The schema declares no properties: one JSON text area for the whole object.
    Whole,
}

/// The JSON type a schema declares, ignoring `null` in a list of types.
fn declared_type(schema: &Value) -> Option<&str> {
    match schema.get("type") {
        Some(Value::String(t)) => Some(t.as_str()),
        Some(Value::Array(types)) => {
            let mut named = types
                .iter()
                .filter_map(Value::as_str)
                .filter(|t| *t != "null");
            match (named.next(), named.next()) {
                (Some(t), None) => Some(t),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The one branch of an `anyOf`/`oneOf` that is not `{"type": "null"}` (an optional value as
/// schema generators write it), when there is exactly one.
fn only_branch(schema: &Value) -> Option<&Value> {
    ["anyOf", "oneOf"].iter().find_map(|k| {
        let branches = schema.get(*k)?.as_array()?;
        let mut real = branches
            .iter()
            .filter(|b| b.get("type").and_then(Value::as_str) != Some("null"));
        match (real.next(), real.next()) {
            (Some(b), None) => Some(b),
            _ => None,
        }
    })
}

fn kind_of(schema: &Value) -> Kind {
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        if !values.is_empty() {
            return Kind::Choice(values.clone());
        }
    }
    if let Some(c) = schema.get("const") {
        return Kind::Choice(vec![c.clone()]);
    }
    match declared_type(schema) {
        Some("string") => Kind::Text,
        Some("number") => Kind::Number { integer: false },
        Some("integer") => Kind::Number { integer: true },
        Some("boolean") => Kind::Boolean,
        None if schema.get("type").is_none() => match only_branch(schema) {
            Some(branch) => match kind_of(branch) {
                // A reference or a nested union stays JSON.
                Kind::Json => Kind::Json,
                k => k,
            },
            None => Kind::Json,
        },
        _ => Kind::Json,
    }
}

/// The text an input starts with for `default` in a field of `kind`.
fn initial(kind: &Kind, default: Option<&Value>) -> String {
    let Some(d) = default else {
        return String::new();
    };
    match (kind, d) {
        (Kind::Text, Value::String(s)) => s.clone(),
        (Kind::Number { .. }, Value::Number(n)) => n.to_string(),
        (Kind::Boolean, Value::Bool(b)) => if *b { "true" } else { "" }.to_owned(),
        (Kind::Choice(values), d) => values
            .iter()
            .position(|v| v == d)
            .map(|i| i.to_string())
            .unwrap_or_default(),
        (Kind::Json, d) => serde_json::to_string_pretty(d).unwrap_or_default(),
        _ => String::new(),
    }
}

fn type_hint(schema: &Value) -> Option<String> {
    match schema.get("type") {
        Some(Value::String(t)) => Some(t.clone()),
        Some(Value::Array(types)) => Some(
            types
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" or "),
        ),
        _ => None,
    }
}

/// The form for `schema` (a tool's input schema).
pub fn shape(schema: &Value) -> Shape {
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return Shape::Whole;
    };
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let fields = properties
        .iter()
        .map(|(name, prop)| {
            let kind = kind_of(prop);
            let description = ["description", "title"]
                .iter()
                .find_map(|k| prop.get(*k).and_then(Value::as_str))
                .filter(|d| !d.trim().is_empty())
                .map(str::to_owned);
            Field {
                initial: initial(&kind, prop.get("default")),
                type_hint: (kind == Kind::Json).then(|| type_hint(prop)).flatten(),
                required: required.contains(&name.as_str()),
                name: name.clone(),
                kind,
                description,
            }
        })
        .collect();
    Shape::Fields(fields)
}

/// How a choice is shown in a select.
pub fn choice_label(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A number as typed: a whole number stays one (`3`, not `3.0`).
fn number(text: &str, integer: bool) -> Result<Value, String> {
    if let Ok(i) = text.parse::<i64>() {
        return Ok(Value::from(i));
    }
    if integer {
        return Err("must be a whole number".to_owned());
    }
    text.parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map(Value::Number)
        .ok_or_else(|| "must be a number".to_owned())
}

/// The value of one field, or `None` to leave it out, or why it is wrong.
fn value_of(field: &Field, text: &str) -> Result<Option<Value>, String> {
    let blank = text.trim().is_empty();
    match &field.kind {
        Kind::Text => Ok((!text.is_empty() || field.required).then(|| Value::from(text))),
        Kind::Boolean => {
            let on = text == "true";
            // An optional box left unticked is left out (the tool's default applies).
            Ok((on || field.required).then_some(Value::Bool(on)))
        }
        _ if blank && field.required => Err("required".to_owned()),
        _ if blank => Ok(None),
        Kind::Number { integer } => number(text.trim(), *integer).map(Some),
        Kind::Choice(values) => text
            .parse::<usize>()
            .ok()
            .and_then(|i| values.get(i))
            .cloned()
            .map(Some)
            .ok_or_else(|| "choose one of the values".to_owned()),
        Kind::Json => crate::resource::parse::<Value>(text)
            .map(Some)
            .map_err(|e| format!("not valid JSON ({e})")),
    }
}

/// A field's problem: its index (`None` for the whole-object text area) and what is wrong.
pub type Problem = (Option<usize>, String);

/// The arguments object the form's `values` make (one per field, in order; for
/// [`Shape::Whole`], the text area's text), or every problem found.
pub fn arguments(shape: &Shape, values: &[String]) -> Result<Map<String, Value>, Vec<Problem>> {
    match shape {
        Shape::Whole => {
            let text = values.first().map(String::as_str).unwrap_or("");
            if text.trim().is_empty() {
                return Ok(Map::new());
            }
            match crate::resource::parse::<Value>(text) {
                Ok(Value::Object(map)) => Ok(map),
                Ok(_) => Err(vec![(None, "must be a JSON object".to_owned())]),
                Err(e) => Err(vec![(None, format!("not valid JSON ({e})"))]),
            }
        }
        Shape::Fields(fields) => {
            let mut map = Map::new();
            let mut problems = Vec::new();
            for (i, field) in fields.iter().enumerate() {
                let text = values.get(i).map(String::as_str).unwrap_or("");
                match value_of(field, text) {
                    Ok(Some(v)) => {
                        map.insert(field.name.clone(), v);
                    }
                    Ok(None) => {}
                    Err(why) => problems.push((Some(i), why)),
                }
            }
            if problems.is_empty() {
                Ok(map)
            } else {
                Err(problems)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(schema: Value) -> Vec<Field> {
        match shape(&schema) {
            Shape::Fields(f) => f,
            Shape::Whole => panic!("whole"),
        }
    }

    #[test]
    fn kinds_follow_the_schema() {
        let f = fields(json!({
            "type": "object",
            "properties": {
                "a": {"type": "string", "description": "A text"},
                "b": {"type": "integer", "default": 3},
                "c": {"type": "number"},
                "d": {"type": "boolean", "default": true},
                "e": {"type": "string", "enum": ["x", "y"], "default": "y"},
                "f": {"type": "array", "items": {"type": "string"}},
                "g": {"$ref": "#/$defs/Thing"},
                "h": {"type": ["string", "null"]},
                "i": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
                "j": {"type": "object"}
            },
            "required": ["a", "e"]
        }));
        let kinds: Vec<(&str, &Kind, bool)> = f
            .iter()
            .map(|f| (f.name.as_str(), &f.kind, f.required))
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("a", &Kind::Text, true),
                ("b", &Kind::Number { integer: true }, false),
                ("c", &Kind::Number { integer: false }, false),
                ("d", &Kind::Boolean, false),
                ("e", &Kind::Choice(vec![json!("x"), json!("y")]), true),
                ("f", &Kind::Json, false),
                ("g", &Kind::Json, false),
                ("h", &Kind::Text, false),
                ("i", &Kind::Number { integer: true }, false),
                ("j", &Kind::Json, false),
            ]
        );
        assert_eq!(f[0].description.as_deref(), Some("A text"));
        assert_eq!(f[1].initial, "3");
        assert_eq!(f[3].initial, "true");
        assert_eq!(f[4].initial, "1");
        assert_eq!(f[5].type_hint.as_deref(), Some("array"));
    }

    #[test]
    fn builds_the_arguments_object() {
        let s = shape(&json!({
            "type": "object",
            "properties": {
                "text": {"type": "string"},
                "n": {"type": "number"},
                "flag": {"type": "boolean"},
                "pick": {"enum": [1, "two"]},
                "list": {"type": "array"},
                "opt": {"type": "string"}
            },
            "required": ["text"]
        }));
        // Properties are in name order: flag, list, n, opt, pick, text.
        let v = |xs: [&str; 6]| xs.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let args = arguments(&s, &v(["true", "[1, 2]", "2.5", "", "0", "hi"])).unwrap();
        assert_eq!(
            Value::Object(args),
            json!({"flag": true, "list": [1, 2], "n": 2.5, "pick": 1, "text": "hi"})
        );
        let args = arguments(&s, &v(["", "", "3", "", "", ""])).unwrap();
        assert_eq!(Value::Object(args), json!({"n": 3, "text": ""}));
        let problems = arguments(&s, &v(["", "[1,", "x", "", "", ""])).unwrap_err();
        assert_eq!(
            problems.iter().map(|p| p.0).collect::<Vec<_>>(),
            vec![Some(1), Some(2)]
        );
    }

    #[test]
    fn required_values_are_asked_for() {
        let s = shape(&json!({
            "properties": {"n": {"type": "integer"}, "b": {"type": "boolean"}},
            "required": ["n", "b"]
        }));
        let problems = arguments(&s, &["".into(), "".into()]).unwrap_err();
        assert_eq!(problems, vec![(Some(1), "required".to_owned())]);
        let args = arguments(&s, &["".into(), "7".into()]).unwrap();
        assert_eq!(Value::Object(args), json!({"b": false, "n": 7}));
        assert!(arguments(&s, &["".into(), "7.5".into()]).is_err());
    }

    #[test]
    fn a_schema_without_properties_takes_a_whole_object() {
        let s = shape(&json!({"type": "object", "additionalProperties": true}));
        assert_eq!(s, Shape::Whole);
        assert_eq!(arguments(&s, &["".into()]).unwrap(), Map::new());
        assert_eq!(
            Value::Object(arguments(&s, &[r#"{"a": 1}"#.into()]).unwrap()),
            json!({"a": 1})
        );
        assert!(arguments(&s, &["[1]".into()]).is_err());
        assert_eq!(
            shape(&json!({"type": "object", "properties": {}})),
            Shape::Fields(vec![])
        );
    }
}
