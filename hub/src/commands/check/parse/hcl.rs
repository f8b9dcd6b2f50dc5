//! HCL 2 (Terraform), in the shape conftest's hcl2 parser (after tmccombs/hcl2json) produces.
//!
//! Attributes become keys; blocks nest by type and then by each label, and the innermost key
//! holds a list of block bodies (`resource.aws_s3_bucket.logs` is `[{...}]`, as is `locals`).
//! Literals keep their JSON type; strings with interpolations keep them as text (`"${var.x}"`);
//! any other expression (a reference, a function call, a conditional) becomes its source text
//! wrapped in `${...}`, since nothing is evaluated.

use hcl_edit::Span;
use hcl_edit::expr::{Expression, ObjectKey};
use hcl_edit::structure::{Block, Body};
use hcl_edit::template::{Element, Template};
use serde_json::{Map, Value as Json};

use super::ParseError;

pub(super) fn parse(text: &str) -> Result<Json, ParseError> {
    let body = hcl_edit::parser::parse_body(text).map_err(|e| {
        ParseError::at(
            e.location().line(),
            e.location().column(),
            e.message().to_owned(),
        )
    })?;
    let converter = Converter { source: text };
    Ok(Json::Object(converter.body(&body)?))
}

struct Converter<'a> {
    source: &'a str,
}

impl Converter<'_> {
    fn body(&self, body: &Body) -> Result<Map<String, Json>, ParseError> {
        let mut out = Map::new();
        for attribute in body.attributes() {
            out.insert(
                attribute.key.as_str().to_owned(),
                self.expr(&attribute.value),
            );
        }
        for block in body.blocks() {
            self.block(block, &mut out)?;
        }
        Ok(out)
    }

    fn block(&self, block: &Block, out: &mut Map<String, Json>) -> Result<(), ParseError> {
        let value = Json::Object(self.body(&block.body)?);
        let mut keys: Vec<&str> = vec![block.ident.as_str()];
        keys.extend(block.labels.iter().map(|l| l.as_str()));
        let Some((last, path)) = keys.split_last() else {
            return Ok(());
        };
        let mut current = out;
        for key in path {
            let entry = current
                .entry((*key).to_owned())
                .or_insert_with(|| Json::Object(Map::new()));
            current = match entry {
                Json::Object(map) => map,
                _ => {
                    let at = block.span().map_or(0, |s| s.start);
                    return Err(ParseError::at_offset(
                        self.source,
                        at,
                        format!(
                            "block `{}` cannot be converted to JSON: `{key}` is both a block and a value",
                            keys.join(".")
                        ),
                    ));
                }
            };
        }
        match current.get_mut(*last) {
            Some(Json::Array(list)) => list.push(value),
            Some(other) => *other = Json::Array(vec![other.take(), value]),
            None => {
                current.insert((*last).to_owned(), Json::Array(vec![value]));
            }
        }
        Ok(())
    }

    fn expr(&self, expr: &Expression) -> Json {
        match expr {
            Expression::Null(_) => Json::Null,
            Expression::Bool(b) => Json::Bool(*b.value()),
            Expression::Number(n) => {
                let n = n.value();
                n.as_i64()
                    .map(Json::from)
                    .or_else(|| n.as_u64().map(Json::from))
                    .or_else(|| {
                        n.as_f64()
                            .and_then(serde_json::Number::from_f64)
                            .map(Json::Number)
                    })
                    .unwrap_or(Json::Null)
            }
            Expression::String(s) => Json::String(s.value().clone()),
            Expression::Array(items) => Json::Array(items.iter().map(|e| self.expr(e)).collect()),
            Expression::Object(object) => Json::Object(
                object
                    .iter()
                    .map(|(key, value)| (self.key(key), self.expr(value.expr())))
                    .collect(),
            ),
            Expression::StringTemplate(template) => {
                // `"${expr}"` alone is the expression itself, as in hcl2json.
                let mut elements = template.iter();
                if let (Some(Element::Interpolation(only)), None) =
                    (elements.next(), elements.next())
                {
                    return self.expr(&only.expr);
                }
                Json::String(self.template(template))
            }
            Expression::HeredocTemplate(heredoc) => Json::String(self.template(&heredoc.template)),
            other => Json::String(self.wrapped(other)),
        }
    }

    fn key(&self, key: &ObjectKey) -> String {
        match key {
            ObjectKey::Ident(ident) => ident.as_str().to_owned(),
            ObjectKey::Expression(Expression::String(s)) => s.value().clone(),
            ObjectKey::Expression(Expression::StringTemplate(t)) => self.template(t),
            ObjectKey::Expression(e @ (Expression::Variable(_) | Expression::Traversal(_))) => {
                self.text(e)
            }
            ObjectKey::Expression(e) => self.wrapped(e),
        }
    }

    fn template(&self, template: &Template) -> String {
        let mut out = String::new();
        for element in template.iter() {
            match element {
                Element::Literal(literal) => out.push_str(literal.value()),
                Element::Interpolation(interpolation) => match &interpolation.expr {
                    Expression::String(s) => out.push_str(s.value()),
                    e => out.push_str(&self.wrapped(e)),
                },
                Element::Directive(directive) => out.push_str(
                    directive
                        .span()
                        .and_then(|s| self.source.get(s))
                        .unwrap_or_default(),
                ),
            }
        }
        out
    }

    /// The expression's source text in `${...}`.
    fn wrapped(&self, expr: &Expression) -> String {
        format!("${{{}}}", self.text(expr))
    }

    fn text(&self, expr: &Expression) -> String {
        expr.span()
            .and_then(|s| self.source.get(s))
            .map_or_else(|| expr.to_string(), |t| t.trim().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn blocks_nest_by_type_and_label_with_list_leaves() {
        let doc = parse(
            r#"
provider "aws" {
  region = "eu-west-1"
}
provider "aws" {
  alias = "us"
}
resource "aws_s3_bucket" "logs" {
  bucket = "logs-${var.env}"
  acl    = var.acl
  count  = 2
  tags   = { Name = "logs", "team" = upper(local.team) }
  versioning {
    enabled = true
  }
  policy = <<-EOT
    line one
      line two
  EOT
}
locals {
  ratio = 0.5
  cond  = var.a > 2 ? 1 : 0
  whole = "${var.x}"
}
"#,
        )
        .unwrap();
        assert_eq!(
            doc["provider"]["aws"],
            json!([{"region": "eu-west-1"}, {"alias": "us"}])
        );
        let bucket = &doc["resource"]["aws_s3_bucket"]["logs"][0];
        assert_eq!(bucket["bucket"], "logs-${var.env}");
        assert_eq!(bucket["acl"], "${var.acl}");
        assert_eq!(bucket["count"], 2);
        assert_eq!(
            bucket["tags"],
            json!({"Name": "logs", "team": "${upper(local.team)}"})
        );
        assert_eq!(bucket["versioning"], json!([{"enabled": true}]));
        assert_eq!(bucket["policy"], "line one\n  line two\n");
        assert_eq!(
            doc["locals"],
            json!([{"ratio": 0.5, "cond": "${var.a > 2 ? 1 : 0}", "whole": "${var.x}"}])
        );
    }

    #[test]
    fn errors_carry_line_and_column() {
        let err = parse("a = 1\nresource \"x\" {\n  b = \n}\n").unwrap_err();
        assert_eq!(err.line, Some(3), "{err:?}");
        assert!(err.column.is_some());
    }
}
