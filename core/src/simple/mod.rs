//! CPython's `SimpleHTTPRequestHandler`: static files and directory
//! listings below a root, over a file system the shell supplies through
//! [`Files`]. `translate_path`, the listing page and MIME types are pure
//! functions of their inputs.

pub mod coding;
pub mod conditional;
mod files;
mod handler;
mod listing;
mod listing_rich;
mod mime;
pub mod multipart;
pub mod range;
mod upload;
pub(crate) mod url;

pub use files::{Committed, FileKind, Files, LinkOutsideRoot, ListingEntry, Metadata, UploadFile};
pub use handler::SimpleHandler;
pub use listing::{list_directory, sort_for_listing};
pub use listing_rich::{
    listing_html, listing_json, parse_listing_query, ListingPage, ListingQuery, SortKey, SortOrder,
};
pub use mime::MimeTypes;
pub use upload::UploadPolicy;
pub use url::{translate_path, LocalPath};
