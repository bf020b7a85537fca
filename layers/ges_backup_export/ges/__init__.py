"""The GES side: the client and what its answers mean, bounded HTTP exchanges, the retry loop the GES and
IAM clients share, the turns of concurrent calls, and the token read from the secret."""
