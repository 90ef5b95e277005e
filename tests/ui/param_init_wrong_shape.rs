use symnn::network;

network! {
    struct Net {
        input x[3];
        param w[3] = [0.1, 0.2];
        output y = dot(w, x);
        loss = y * y;
    }
}

fn main() {}
