//! CPython's `SimpleHTTPRequestHandler`: static files and directory
//! listings below a root, over a file system the shell supplies through
//! [`Files`]. `translate_path`, the listing page and MIME types are pure
//! functions of their inputs.

pub mod coding;
pub mod conditional;
mod files;
mod handler;
mod listing;
mod mime;
pub mod multipart;
pub mod range;
pub(crate) mod url;

pub use files::{FileKind, Files, ListingEntry, Metadata};
pub use handler::SimpleHandler;
pub use listing::list_directory;
pub use mime::MimeTypes;
pub use url::{translate_path, LocalPath};
