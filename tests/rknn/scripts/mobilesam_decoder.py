# In the shape of rknn_model_zoo's examples/mobilesam/python/decoder/convert.py and the decoder
# half of mobilesam.py (written for rknn.api): named non-image inputs of every rank with their
# sizes, a cut output list, a float build; then load_rknn, init_runtime(target=platform) and
# inference(..., data_format='NCHW') with five inputs.
import numpy as np
from rknn.api import RKNN

NUM_POINTS = 2
dummy_inputs = {
    "image_embeddings": [1, 16, 8, 8],
    "point_coords": [1, NUM_POINTS, 2],
    "point_labels": [1, NUM_POINTS],
    "mask_input": [1, 1, 16, 16],
    "has_mask_input": [1],
}
outputs = ['iou_predictions', 'low_res_masks']
platform = 'rk3588'

if __name__ == '__main__':
    rknn = RKNN(verbose=True)
    print('--> Config model')
    rknn.config(target_platform=platform,)
    print('done')

    print('--> Loading model')
    ret = rknn.load_onnx(model='decoder.onnx', inputs=[*dummy_inputs.keys()],
                         input_size_list=[*dummy_inputs.values()], outputs=outputs)
    if ret != 0:
        print('Load model failed!')
        exit(ret)
    print('done')

    print('--> Building model')
    ret = rknn.build(do_quantization=False)
    if ret != 0:
        print('Build model failed!')
        exit(ret)
    print('done')

    print('--> Export rknn model')
    ret = rknn.export_rknn('decoder.rknn')
    if ret != 0:
        print('Export rknn model failed!')
        exit(ret)
    print('done')
    rknn.release()

    img_embeds = np.load('embeds.npy')
    point_coords = np.array([[[10.0, 20.0], [30.0, 5.0]]], np.float32)
    point_labels = np.array([[2, 3]], np.float32)
    mask_input = np.zeros((1, 1, 16, 16), dtype=np.float32)
    has_mask_input = np.zeros(1, dtype=np.float32)

    rknn = RKNN(verbose=False)
    rknn.load_rknn('decoder.rknn')
    rknn.init_runtime(target=platform)
    result = rknn.inference(inputs=[img_embeds, point_coords, point_labels, mask_input,
                                    has_mask_input], data_format='NCHW')
    rknn.release()
    iou_predictions, low_res_masks = result[0], result[1]
