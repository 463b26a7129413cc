//! A thin layer over quick-xml's writer: every value goes through [`clean`] and
//! quick-xml's escaping; element names are crate constants.

use std::borrow::Cow;
use std::io;

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};

/// Replaces characters XML 1.0 cannot carry at all, not even as character
/// references (C0 controls other than tab/LF/CR, U+FFFE, U+FFFF), with U+FFFD. Such
/// characters do occur in file names on an SVM, and one of them would make the
/// whole response unparsable.
pub(crate) fn clean(s: &str) -> Cow<'_, str> {
    fn bad(c: char) -> bool {
        matches!(c, '\u{0}'..='\u{8}' | '\u{B}' | '\u{C}' | '\u{E}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}')
    }
    if s.chars().any(bad) {
        Cow::Owned(
            s.chars()
                .map(|c| if bad(c) { '\u{FFFD}' } else { c })
                .collect(),
        )
    } else {
        Cow::Borrowed(s)
    }
}

pub(crate) struct Xml {
    w: Writer<Vec<u8>>,
}

impl Xml {
    pub(crate) fn new() -> io::Result<Self> {
        let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
        // The RMM's own declaration, space before `?>` included (seed example).
        w.write_event(Event::Decl(BytesDecl::from_start(
            BytesStart::from_content("xml version=\"1.0\" ", 3),
        )))?;
        Ok(Xml { w })
    }

    pub(crate) fn start(&mut self, name: &str, attrs: &[(&str, &str)]) -> io::Result<()> {
        let mut el = BytesStart::new(name);
        for (k, v) in attrs {
            el.push_attribute((*k, clean(v)));
        }
        self.w.write_event(Event::Start(el))
    }

    pub(crate) fn end(&mut self, name: &str) -> io::Result<()> {
        self.w.write_event(Event::End(BytesEnd::new(name)))
    }

    /// `<name attrs>text</name>`, or `<name attrs/>` for empty text.
    pub(crate) fn leaf_with(
        &mut self,
        name: &str,
        attrs: &[(&str, &str)],
        text: &str,
    ) -> io::Result<()> {
        let mut el = BytesStart::new(name);
        for (k, v) in attrs {
            el.push_attribute((*k, clean(v)));
        }
        let text = clean(text);
        if text.is_empty() {
            // `<name/>`: with `<name></name>` the indenting writer would put a
            // newline and spaces between the tags, i.e. a non-empty value.
            return self.w.write_event(Event::Empty(el));
        }
        self.w.write_event(Event::Start(el))?;
        self.w.write_event(Event::Text(BytesText::new(&text)))?;
        self.end(name)
    }

    pub(crate) fn leaf(&mut self, name: &str, text: &str) -> io::Result<()> {
        self.leaf_with(name, &[], text)
    }

    pub(crate) fn num(&mut self, name: &str, n: impl Into<u64>) -> io::Result<()> {
        self.leaf(name, &n.into().to_string())
    }

    pub(crate) fn finish(self) -> String {
        // Every byte written came from a `&str` or an ASCII literal.
        String::from_utf8_lossy(&self.w.into_inner()).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_keeps_what_xml_can_carry() {
        assert!(matches!(clean("a\tb\nc\rd ü 日本 😀"), Cow::Borrowed(_)));
        assert_eq!(
            clean("a\u{0}b\u{1B}c\u{FFFE}\u{FFFF}"),
            "a\u{FFFD}b\u{FFFD}c\u{FFFD}\u{FFFD}"
        );
    }

    #[test]
    fn empty_text_is_an_empty_element() {
        let mut x = Xml::new().expect("decl");
        x.leaf("a", "").expect("leaf");
        x.leaf_with("b", &[("k", "<&\"'>")], "\u{1}").expect("leaf");
        assert_eq!(
            x.finish(),
            "<?xml version=\"1.0\" ?>\n<a/>\n<b k=\"&lt;&amp;&quot;&apos;&gt;\">\u{FFFD}</b>"
        );
    }
}
