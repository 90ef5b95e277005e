use symnn::network;

network! {
    struct Net {
        input x[2];
        target t;
        param w[2][2] = [[0.5, 0.0], [0.0]], v[3];
        let h = tanh(w * x + bias);
        let g = sigmoid(h, 2.0);
        output y = dot(x, v);
        loss = (y - t) * (y - t);
    }
}

fn main() {}
