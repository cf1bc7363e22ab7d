//! The local time for log lines (CPython uses `time.localtime`), from the C
//! library, which honours `TZ` and `/etc/localtime` as Python does.

use httpserver_core::CivilTime;

pub fn local_civil(secs: i64) -> CivilTime {
    let t: libc::time_t = secs as libc::time_t;
    // SAFETY: localtime_r writes only into `tm`, which we own; a zeroed
    // `tm` is a valid value of the plain C struct.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    if !ok {
        return CivilTime::from_unix(secs);
    }
    CivilTime {
        year: i64::from(tm.tm_year) + 1900,
        month: (tm.tm_mon + 1) as u32,
        day: tm.tm_mday as u32,
        hour: tm.tm_hour as u32,
        minute: tm.tm_min as u32,
        second: tm.tm_sec as u32,
        weekday: ((tm.tm_wday + 6) % 7) as u32,
    }
}
