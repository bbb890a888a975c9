module peerwire.local/bench/ref

go 1.21
