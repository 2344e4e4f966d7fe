package main
import (
 _ "modernc.org/sqlite"
 _ "github.com/jackc/pgx/v5"
 _ "github.com/nats-io/nats.go"
 _ "golang.org/x/crypto/argon2"
 _ "golang.org/x/term"
 _ "github.com/spf13/cobra"
 _ "github.com/prometheus/client_golang/prometheus"
 _ "go.uber.org/goleak"
 _ "github.com/chzyer/readline"
)
func main(){}
