//! XML, converted the way conftest's goxml2json-based parser converts it.
//!
//! The root element becomes the single key of the document. An element with neither attributes
//! nor children is its trimmed text (a string; values are never typed); otherwise it is an
//! object with attributes as `-name` keys, child elements by local name (a list when a name
//! repeats) and its text, when any, as `#content`. Namespace prefixes are dropped. Unlike
//! conftest, malformed XML is an error with its position instead of a partial document.

use roxmltree::{Document, Node, ParsingOptions};
use serde_json::{Map, Value as Json};

use super::ParseError;

pub(super) fn parse(text: &str) -> Result<Json, ParseError> {
    let options = ParsingOptions {
        allow_dtd: true,
        ..ParsingOptions::default()
    };
    let document = Document::parse_with_options(text, options).map_err(|e| {
        let pos = e.pos();
        let message = e.to_string();
        let message = message
            .rsplit_once(" at ")
            .map_or(message.as_str(), |(m, _)| m)
            .to_owned();
        ParseError::at(pos.row as usize, pos.col as usize, message)
    })?;
    let root = document.root_element();
    let mut out = Map::new();
    out.insert(root.tag_name().name().to_owned(), element(root));
    Ok(Json::Object(out))
}

fn element(node: Node<'_, '_>) -> Json {
    let mut children: Map<String, Json> = Map::new();
    for attribute in node.attributes() {
        children.insert(
            format!("-{}", attribute.name()),
            Json::String(attribute.value().to_owned()),
        );
    }
    for child in node.children().filter(Node::is_element) {
        let name = child.tag_name().name().to_owned();
        let value = element(child);
        match children.get_mut(&name) {
            // Elements are never arrays themselves, so an array here is a repeated name.
            Some(Json::Array(list)) => list.push(value),
            Some(existing) => *existing = Json::Array(vec![existing.take(), value]),
            None => {
                children.insert(name, value);
            }
        }
    }
    // goxml2json keeps the last run of text before the end tag, trimmed.
    let text = node
        .children()
        .rfind(Node::is_text)
        .and_then(|t| t.text())
        .map(str::trim)
        .unwrap_or_default()
        .to_owned();
    if children.is_empty() {
        return Json::String(text);
    }
    if !text.is_empty() {
        children.insert("#content".into(), Json::String(text));
    }
    Json::Object(children)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn elements_attributes_and_repeats() {
        let doc = parse(
            "<?xml version=\"1.0\"?>\n<project xmlns=\"urn:x\" version=\"4\">\n  <name>demo</name>\n  <dep scope=\"test\">junit</dep>\n  <dep>a</dep>\n  <dep>b</dep>\n  <empty/>\n</project>\n",
        )
        .unwrap();
        assert_eq!(
            doc,
            json!({"project": {
                "-version": "4",
                "name": "demo",
                "dep": [{"-scope": "test", "#content": "junit"}, "a", "b"],
                "empty": ""
            }})
        );
    }

    #[test]
    fn malformed_xml_is_an_error_with_its_position() {
        let err = parse("<a>\n  <b>\n</a>\n").unwrap_err();
        assert_eq!(err.line, Some(3), "{err:?}");
    }
}
