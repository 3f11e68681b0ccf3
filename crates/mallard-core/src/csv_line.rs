//! One line of a CSV file split into its fields, with RFC 4180 quoting:
//! what GoatCounter's and Plausible's exports both write.

use crate::access_log::LineError;

/// Splits one CSV line into its fields (RFC 4180 quoting).
pub fn split_line(line: &str) -> Result<Vec<String>, LineError> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    let mut fields = Vec::with_capacity(16);
    let mut chars = line.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => return Err(LineError::Layout("CSV (a quote is not closed)")),
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => fields.push(field),
                Some(_) => return Err(LineError::Layout("CSV (text after a closing quote)")),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                    Some(',') => break,
                    Some(c) => field.push(c),
                }
            }
            fields.push(field);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_fields_hold_commas_and_doubled_quotes() {
        assert_eq!(
            split_line("a,\"b,c\",\"d \"\"e\"\"\",\r").unwrap(),
            vec!["a", "b,c", "d \"e\"", ""]
        );
        assert!(split_line("\"open").is_err());
        assert!(split_line("\"a\"b").is_err());
    }
}
