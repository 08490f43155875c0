"""Services, endpoints and service accounts: the control logic behind the API objects (pure where possible)."""
