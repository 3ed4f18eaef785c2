//! Page tokens: never panic; an accepted token is exactly the canonical
//! encoding of the position it names, for the list it was made for.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pulse::domain::page::{MAX_PAGE_SIZE, PageRequest};

fuzz_target!(|data: &[u8]| {
    if data.len() < 5 {
        return;
    }
    let (head, rest) = data.split_at(5);
    let size = i32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    let list_len = usize::from(head[4]).min(rest.len());
    let (list, token) = rest.split_at(list_len);
    let (Ok(list), Ok(token)) = (std::str::from_utf8(list), std::str::from_utf8(token)) else {
        return;
    };
    match PageRequest::parse(list, size, token) {
        Ok(page) => {
            assert!(size >= 0);
            assert!(page.size >= 1 && page.size <= MAX_PAGE_SIZE);
            if token.is_empty() {
                assert_eq!(page.after, 0);
            } else {
                assert!(page.after > 0);
                assert_eq!(page.next_token(page.after), token, "non-canonical token");
            }
        }
        Err(_) => assert!(size < 0 || !token.is_empty()),
    }
});
