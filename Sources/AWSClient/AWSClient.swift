// Placeholder: the AWS client is being written.
