//! Header fields, as a request brings them and a response sends them: one
//! text buffer and the places of the fields in it, so that a head costs
//! two allocations however many fields it has (and none when its buffers
//! are reused).

/// Header fields in arrival (or writing) order; names compared ASCII
/// case-insensitively. A request's values are its bytes decoded as
/// Latin-1, as CPython decodes them; a response's are written as Latin-1.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    /// Every name and value, one after the other: one buffer (kept from
    /// request to request on a connection) rather than two strings a field.
    text: String,
    fields: Vec<FieldSpan>,
}

/// Where one field is in [`Headers::text`]: the name from `start` to
/// `name_end`, the value from there to `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FieldSpan {
    start: usize,
    name_end: usize,
    end: usize,
}

impl Headers {
    /// No fields, with room for `fields` fields of `bytes` bytes in all.
    pub(crate) fn with_capacity(fields: usize, bytes: usize) -> Headers {
        Headers { text: String::with_capacity(bytes), fields: Vec::with_capacity(fields) }
    }

    /// The first value of `name` (what `email.message.Message.get` gives).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v)
    }

    /// Every value of `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v)
    }

    /// Whether `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// All fields, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|f| (&self.text[f.start..f.name_end], &self.text[f.name_end..f.end]))
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Add a field.
    pub fn push(&mut self, name: &str, value: &str) {
        self.push_with(name, |text| text.push_str(value));
    }

    /// Add a field whose value `write_value` appends to the buffer.
    pub(crate) fn push_with(&mut self, name: &str, write_value: impl FnOnce(&mut String)) {
        let start = self.text.len();
        self.text.push_str(name);
        let name_end = self.text.len();
        write_value(&mut self.text);
        self.fields.push(FieldSpan { start, name_end, end: self.text.len() });
    }

    /// Bytes the buffers hold without growing.
    pub(crate) fn capacity(&self) -> usize {
        self.text.capacity() + self.fields.capacity() * std::mem::size_of::<FieldSpan>()
    }

    /// No fields, the buffers kept.
    pub(crate) fn clear(&mut self) {
        self.text.clear();
        self.fields.clear();
    }
}
