//! Time as the run's state writes it: RFC 3339 text.

use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;

use crate::error::BackstopError;

/// An RFC 3339 time, with `Z` or a numeric offset (`+00:00`, as some services write
/// `$$.Execution.StartTime`).
pub fn parse_time(text: &str) -> Option<DateTime> {
    if let Ok(time) = DateTime::from_str(text, Format::DateTime) {
        return Some(time);
    }
    let (base, offset) = text.split_at(text.len().checked_sub(6)?);
    let sign = match offset.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (hours, minutes) = offset[1..].split_once(':')?;
    let offset_secs =
        sign * (hours.parse::<i64>().ok()? * 3600 + minutes.parse::<i64>().ok()? * 60);
    let utc = DateTime::from_str(&format!("{base}Z"), Format::DateTime).ok()?;
    Some(DateTime::from_fractional_secs(
        utc.secs() - offset_secs,
        utc.subsec_nanos() as f64 / 1e9,
    ))
}

/// Now, as the run's state writes times.
pub fn now_rfc3339() -> String {
    format_time(DateTime::from(std::time::SystemTime::now()))
}

/// Seconds from an RFC 3339 time until now (0 for text that is not one).
pub fn seconds_since(text: &str) -> f64 {
    parse_time(text).map_or(0.0, |then| {
        let now = DateTime::from(std::time::SystemTime::now());
        (now.as_secs_f64() - then.as_secs_f64()).max(0.0)
    })
}

pub fn format_time(time: DateTime) -> String {
    time.fmt(Format::DateTime)
        .unwrap_or_else(|_| time.secs().to_string())
}

pub fn parse_time_field(field: &str, text: &str) -> Result<DateTime, BackstopError> {
    crate::model::time::parse_time(text).ok_or_else(|| {
        BackstopError::invalid_input(
            field,
            format!(
                "\"{}\" is not an RFC 3339 time; use e.g. 2026-11-25T03:00:00Z",
                crate::error::truncate_chars(text, 100)
            ),
        )
    })
}
