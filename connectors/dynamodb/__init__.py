"""The DynamoDB store: conditional writes, transactions, tables, reads; and its snapshot reader."""
