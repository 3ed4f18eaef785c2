//! Page tokens: never panic; no input but a token the server sealed for
//! this very list and tenant is accepted, and sealed tokens round-trip.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pulse::domain::page::{MAX_PAGE_SIZE, PageSealer};

fuzz_target!(|data: &[u8]| {
    if data.len() < 5 {
        return;
    }
    let sealer = PageSealer::new([7; 32]);
    let (head, rest) = data.split_at(5);
    let size = i32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    let list_len = usize::from(head[4]).min(rest.len());
    let (list, token) = rest.split_at(list_len);
    let (Ok(list), Ok(token)) = (std::str::from_utf8(list), std::str::from_utf8(token)) else {
        return;
    };
    match sealer.parse("tenant", list, size, token) {
        Ok(page) => {
            assert!(size >= 0);
            assert!(page.size >= 1 && page.size <= MAX_PAGE_SIZE);
            assert!(
                token.is_empty(),
                "a token the server never sealed was accepted"
            );
            assert_eq!(page.after, 0);
            let seq = i64::from(size).max(1);
            let sealed = page.next_token(seq);
            assert_eq!(
                sealer.parse("tenant", list, size, &sealed).unwrap().after,
                seq
            );
            assert!(sealer.parse("other", list, size, &sealed).is_err());
        }
        Err(_) => assert!(size < 0 || !token.is_empty()),
    }
});
