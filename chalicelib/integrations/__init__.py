"""Integration connectors: configured links to the systems around Gatehouse (REST APIs,
email, SMS, file drops, payment gateways), their sync jobs and inbound callbacks."""
