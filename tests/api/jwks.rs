//! Issue 13 tests (filled in by the work in progress).
