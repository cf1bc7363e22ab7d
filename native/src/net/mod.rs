//! Moving bytes: the transport, the one body writer, admission and stop,
//! the connection driver both pumps share, and the two pumps (an epoll
//! loop per core for static serving, a thread per connection for CGI).

pub mod admission;
pub mod body;
pub mod conn;
pub mod epoll;
pub mod stream;
pub mod threaded;
pub mod tls;
pub mod transport;
