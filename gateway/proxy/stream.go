package proxy

import (
	"io"
	"time"

	"github.com/valyala/fasthttp"
)

// clientBody is the client's request body on its way upstream. It pushes the
// server's read deadline readTimeout ahead before each read (so ReadTimeout
// bounds a stall, not the whole upload) and remembers a failed read, which is
// the client's fault and not the upstream's.
type clientBody struct {
	stream      io.Reader
	fctx        *fasthttp.RequestCtx
	readTimeout time.Duration
	err         error
}

func (b *clientBody) Read(p []byte) (int, error) {
	if b.readTimeout > 0 {
		_ = b.fctx.SetReadDeadline(time.Now().Add(b.readTimeout))
	}
	n, err := b.stream.Read(p)
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

// attachBody gives out the client's body: the server's body stream when the
// app runs with StreamRequestBody, else the buffered body. It returns the
// stream wrapper, or nil when the body was buffered.
func attachBody(out *fasthttp.Request, fctx *fasthttp.RequestCtx, readTimeout time.Duration) *clientBody {
	in := &fctx.Request
	if s := fctx.RequestBodyStream(); s != nil {
		b := &clientBody{stream: s, fctx: fctx, readTimeout: readTimeout}
		// ContentLength is the client's Content-Length, or -1 for a chunked
		// body, which then goes upstream chunked too.
		out.SetBodyStream(b, in.Header.ContentLength())
		return b
	}
	if body := in.Body(); len(body) > 0 {
		out.SetBodyRaw(body)
	}
	return nil
}

// upstreamBody is the upstream's response body on its way to the client,
// read by fasthttp after the handler has returned. Before handing on each
// piece it pushes the server's write deadline writeTimeout ahead, so
// WriteTimeout bounds a stall, not the whole download. Close gives the
// upstream connection back to the pool (or closes it if the body was not read
// to the end) and releases the response.
type upstreamBody struct {
	resp         *fasthttp.Response
	stream       io.Reader
	fctx         *fasthttp.RequestCtx
	writeTimeout time.Duration
	closer       io.Closer
	closed       bool
}

func (b *upstreamBody) Read(p []byte) (int, error) {
	n, err := b.stream.Read(p)
	if n > 0 && b.writeTimeout > 0 {
		_ = b.fctx.SetWriteDeadline(time.Now().Add(b.writeTimeout))
	}
	return n, err
}

func (b *upstreamBody) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	err := b.resp.CloseBodyStream()
	fasthttp.ReleaseResponse(b.resp)
	if b.closer != nil {
		if cerr := b.closer.Close(); err == nil {
			err = cerr
		}
	}
	return err
}
