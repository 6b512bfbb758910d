// Command probeprog is the whole of the host-setup probe image: it prints
// "ok" and exits 0. Host set-up runs it as a privileged container to check
// that the Docker engine can start privileged containers, as kind needs.
package main

import "fmt"

func main() {
	fmt.Println("ok")
}
