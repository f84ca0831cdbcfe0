/* perfcheck */
-- Where this session really landed: a pooler in front (PgBouncer) forwards to a server
-- port other than the one in the URL.
SELECT inet_server_port() AS server_port, host(inet_server_addr()) AS server_addr,
       inet_client_port() AS client_port, pg_backend_pid() AS backend_pid
