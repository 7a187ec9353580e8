"""HTTP pieces shared by the file host and the client (ranges; later BITS headers, challenges)."""
