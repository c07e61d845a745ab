//! Empty: this package only pins the proxy-wasm SDK release whose examples are built.
