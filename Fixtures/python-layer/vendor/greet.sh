#!/bin/sh
# Lands at bin/greet in the layer, so Lambda finds it on PATH.
echo "Hello, ${1:-world}, from a Lambda layer!"
